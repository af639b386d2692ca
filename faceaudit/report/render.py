"""Render ``audit.json`` into one self-contained HTML file.

The report reads the stored :class:`AuditResult` and nothing else: no recomputation,
no network, no files beside the page (charts are data: URIs, CSS is inlined). A
section absent from the audit is listed under "what was not tested", never drawn.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from faceaudit.gate.verdict import AUDIT_STAGES, fmt, not_tested
from faceaudit.provenance import privacy_statement
from faceaudit.report import charts
from faceaudit.report.card import DEMOGRAPHIC_INFERENCE, build_card
from faceaudit.report.checks import (
    contamination_view,
    sensitivity_view,
    tested_rows,
)
from faceaudit.report.findings import group_in_words, page_one_findings
from faceaudit.report.inputs import CardInput, SignOff
from faceaudit.report.overview import (
    shared_limit,
    worst_calibrations,
    worst_confusions,
    worst_group_charts,
)
from faceaudit.schema import AuditResult
from faceaudit.schema.evaluation import HIGHER_IS_BETTER
from faceaudit.store import atomic_write_text

# Sections with a dedicated template block; any other non-empty section is drawn by the
# generic renderer so that a new stage shows up in the report before it gets its own layout.
_DEDICATED = {"schema_version", "run", "provenance", "gate", "dataset", "evaluation", "corpus_scan",
              "robustness", "contamination", "sensitivity", "comparison", "warnings"}
_TITLES = {
    "gate": "Release checks",
    "dataset": "Data",
    "evaluation": "Evaluation per group",
    "robustness": "Robustness",
    "corpus_scan": "Corpus scan",
    "contamination": "Training images in the evaluation",
    "sensitivity": "Prompt sensitivity",
    "comparison": "Model comparison",
    "corpus": "Training corpus",
    "training": "Training",
    "warnings": "Warnings",
}


def _load_template(name: str) -> str | None:
    resource = resources.files("faceaudit.report.templates").joinpath(name)
    return resource.read_text(encoding="utf-8") if resource.is_file() else None


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        # The templates live in reports/templates/, installed as the package
        # faceaudit.report.templates; importlib.resources finds them editable or from a wheel
        # (jinja2's PackageLoader looks for a sub-directory and misses the mapped package).
        loader=jinja2.FunctionLoader(_load_template),
        # Corpus text and warnings can contain anything, including <script>: always escape.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt
    env.filters["pct"] = lambda x: "NaN" if x is None or math.isnan(x) else f"{100 * x:.1f}%"
    env.filters["pts"] = lambda x: "NaN" if x is None or math.isnan(x) else f"{100 * x:+.1f}"  # percentage points
    env.filters["kind"] = _kind
    env.filters["title"] = lambda key: _TITLES.get(key, key.replace("_", " ").capitalize())
    env.filters["short"] = lambda h: (h[:12] + "…") if isinstance(h, str) and len(h) > 16 else h
    env.globals["field_label"] = lambda section, key: _FIELD_LABELS.get((section, key), key.replace("_", " "))
    env.globals["dict_overall"] = lambda tables: {name: t["overall"] for name, t in tables.items()}
    return env


def _is_estimate(node: Any) -> bool:
    return isinstance(node, dict) and {"value", "lower", "upper", "n", "method"} <= node.keys()


def _kind(node: Any) -> str:
    """How the generic renderer draws a value: estimate, scalar, estimates, record, table, list."""
    if _is_estimate(node):
        return "estimate"
    if node is None or isinstance(node, (str, int, float, bool)):
        return "scalar"
    if isinstance(node, dict):
        if node and all(_is_estimate(v) for v in node.values()):
            return "estimates"
        return "record"
    if isinstance(node, list):
        if node and all(isinstance(v, dict) and not _is_estimate(v) for v in node):
            scalar_rows = all(
                all(v is None or isinstance(v, (str, int, float, bool)) or _is_estimate(v)
                    for v in row.values())
                for row in node
            )
            return "table" if scalar_rows else "records"
        return "list"
    return "scalar"


#: Groups shown before the rest of a table is folded away.
FOLD_K = 6

# Labels of provenance fields where the field name alone would be ambiguous: the corpus has a
# content hash (its pairs) and the training record a file hash (the JSONL's bytes).
_PROVENANCE_LABELS = {
    "corpus_sha256": "corpus content SHA-256 (key, question, answer and status of every pair)",
    "dataset_manifest_sha256": "dataset manifest SHA-256",
    "prompt_set_sha256": "prompt set SHA-256",
    "base_model_sha256": "base model SHA-256 (checkpoint files)",
    "adapter_sha256": "adapter SHA-256",
    "recipe_sha256": "training recipe SHA-256",
    "model_sha256": "evaluated model SHA-256",
}
_FIELD_LABELS = {
    ("training", "corpus_sha256"): "corpus file SHA-256 (bytes of the JSONL file)",
    ("corpus", "corpus_sha256"): "corpus content SHA-256 (key, question, answer and status of every pair)",
}


def _group_chart(task: dict[str, Any], attributes: list[str], groups: list[dict[str, Any]],
                 limit: float | None = None) -> charts.Chart:
    rows = [
        charts.Row(g["name"], g["metrics"]["accuracy"]["value"], g["metrics"]["accuracy"]["lower"],
                   g["metrics"]["accuracy"]["upper"], g["n_items"])
        for g in groups
    ]
    confidence = groups[0]["metrics"]["accuracy"].get("confidence", 0.95) if groups else 0.95
    return charts.interval_chart(
        rows,
        title=f"Accuracy on '{task['task']}' by {' × '.join(attributes)}",
        xlabel=f"accuracy ({charts.level(confidence)} interval)" + ("; dashed: the policy's floor" if limit is not None else ""),
        xlim=(0.0, 1.0),
        limit=limit,
        confidence=confidence,
    )


def _sort_key(metric: str):
    sign = 1 if HIGHER_IS_BETTER.get(metric, True) else -1

    def key(group: dict[str, Any]) -> float:
        value = group["metrics"].get(metric, {}).get("value", float("nan"))
        return -math.inf if math.isnan(value) else sign * value  # undefined first: it needs a look

    return key


def _evaluation_view(result: AuditResult, evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    tasks = []
    for task, task_model in zip(evaluation["tasks"], result.evaluation.tasks, strict=True):
        by_attributes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for group in task["groups"]:
            by_attributes.setdefault(tuple(group["attributes"]), []).append(group)
        blocks = []
        for attributes, groups in by_attributes.items():
            ordered = sorted(groups, key=_sort_key("accuracy"))
            has_accuracy = all("accuracy" in g["metrics"] for g in ordered)
            # Intersections get no chart: a hundred rows read as a wall; their table leads with the worst.
            charted = has_accuracy and len(attributes) == 1
            paths = [f"evaluation.tasks[{task['task']}].groups[{g['name']}].metrics.accuracy" for g in ordered]
            limit = shared_limit(result.gate, paths)[0] if charted else None
            blocks.append({
                "attributes": list(attributes),
                "groups": ordered,
                "chart": _group_chart(task, list(attributes), ordered, limit) if charted else None,
            })
        metrics = sorted({m for g in task["groups"] for m in g["metrics"]},
                         key=lambda m: (m != "accuracy", m))
        disparities = sorted(task["disparities"], key=lambda d: (not d["significant"], d["p_adjusted"]))
        tasks.append({"task": task, "blocks": blocks, "metrics": metrics, "disparities": disparities,
                      "confusions": worst_confusions(task_model),
                      "calibration": worst_calibrations(task_model, result.evaluation.mode)})
    return tasks


def _robustness_view(section: dict[str, Any], gate: Any) -> dict[str, Any]:
    from faceaudit.report.robustness import robustness_view

    return robustness_view(section, gate)


def _tested(result: AuditResult) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    ev = result.evaluation
    model = model_title(result)
    if model:
        rows.append(("Model", model))
    if ev is not None and ev.model_identity is not None:
        identity = ev.model_identity
        if identity.source:
            rows.append(("Model source", identity.source))
        if identity.sha256:
            rows.append(("Model SHA-256", identity.sha256))
    if result.provenance.adapter_sha256:
        rows.append(("Adapter SHA-256 (first 16)", result.provenance.adapter_sha256[:16]))
    if result.dataset:
        d = result.dataset
        rows.append(("Data", f"{d.name} ({d.kind}), {d.n_records:,} records"))
        rows.append(("Groups compared by", ", ".join(d.sensitive_attributes) or "none declared"))
        rows.append(("Tasks asked", ", ".join(d.task_attributes) or "none declared"))
    if ev:
        rows.append(("Evaluation sample", f"{ev.n_items:,} questions on {ev.n_images:,} images, "
                     f"{len(ev.tasks)} task(s)"))
        smallest = min((g for t in ev.tasks for g in t.groups), key=lambda g: g.n_items, default=None)
        if smallest is not None:
            rows.append(("Smallest group", f"{group_in_words(smallest.attributes, smallest.labels)}: "
                         f"{smallest.n_items:,} question(s)"))
        rows.append(("Statistics", f"{int(ev.confidence * 100)}% intervals, {ev.n_boot:,} bootstrap "
                     f"resamples, correction: {ev.correction_name}"))
    return rows + tested_rows(result)


def _provenance(result: AuditResult) -> list[tuple[str, str]]:
    run, prov = result.run, result.provenance
    rows = [
        ("Run", run.run_id),
        ("Started / finished (UTC)", f"{run.started_at} / {run.finished_at or 'not finished'}"),
        ("faceaudit", run.faceaudit_version),
        ("Python / platform", f"{run.python_version} on {run.platform}"),
        ("Seed", str(run.seed)),
        ("Stages run", ", ".join(run.stages_run) or "none recorded"),
    ]
    if run.command:
        rows.append(("Command", run.command))
    if result.gate is not None:
        g = result.gate
        rows.append(("Policy", f"{g.policy_name} version {g.policy_version} ({g.policy_source})"))
        rows.append(("Policy SHA-256", g.policy_sha256))
        rows.append(("Verdict computed at", g.evaluated_at))
    for name, value in prov.model_dump().items():
        if name in ("data_sent_to", "transfers") or value in (None, "", []):
            continue
        if name == "policy_sha256" and result.gate is not None and value == result.gate.policy_sha256:
            continue  # printed above as "Policy SHA-256"
        rows.append((_PROVENANCE_LABELS.get(name, name.replace("_", " ").replace("sha256", "SHA-256")), str(value)))
    rows.append(("Data sent to", ", ".join(prov.data_sent_to) if prov.data_sent_to
                 else "nothing left this machine"))
    for lib, version in sorted(run.library_versions.items()):
        rows.append((f"library {lib}", version))
    return rows


def model_title(result: AuditResult) -> str | None:
    """The audited model as a person reads it: its name, then the hash (or revision) that pins it."""
    evaluation = result.evaluation
    if evaluation is None:
        return result.provenance.base_model
    identity = evaluation.model_identity
    if identity is None:
        return evaluation.model
    pins = []
    if identity.sha256:
        pins.append(f"sha256 {identity.sha256[:12]}")
    if identity.revision:
        pins.append(f"revision {identity.revision[:12]}")
    if not pins:
        pins.append(f"served by {identity.source}" if identity.source else "weights not hashed")
    return f"{identity.name} ({', '.join(pins)})"


def _reference_text(result: AuditResult) -> str:
    if result.evaluation is None:
        return "reference group"
    ref = result.evaluation.reference_group
    if isinstance(ref, str):
        return {"largest": "largest group of each attribute (the reference group)",
                "best": "most accurate group of each attribute (the reference group)"}.get(
                    ref, f"reference group {ref}")
    return "reference group " + ", ".join(f"{k}={v}" for k, v in sorted(ref.items()))


def _signoff_note(result: AuditResult, signoff: SignOff | None) -> str | None:
    if signoff is None or result.gate is None:
        return None
    approved = signoff.decision.startswith("approved")
    if approved and result.gate.blocks_release:
        return (f"The reviewer approved a release that the gate's verdict "
                f"({result.gate.verdict.replace('_', ' ')}) blocks.")
    if not approved and not result.gate.blocks_release:
        return f"The reviewer's decision ({signoff.decision}) is stricter than the gate's verdict ({result.gate.verdict})."
    return None


def build_context(result: AuditResult, *, show_faces: bool = False, signoff: SignOff | None = None,
                  card: CardInput | None = None, signoff_source: str | None = None,
                  signoff_sha256: str | None = None, card_source: str | None = None,
                  signoff_record: str | None = None, signed_audit_sha256: str | None = None) -> dict[str, Any]:
    data = result.model_dump(mode="python")
    gate = result.gate
    findings = page_one_findings(result)
    untested = not_tested(result)  # from the sections present now, whenever the gate ran
    privacy = privacy_statement(result.provenance)
    generic = [
        (name, data[name]) for name in type(result).model_fields
        if name not in _DEDICATED and data.get(name) is not None
    ]
    present = [name for name in ("gate", "dataset", "evaluation", "contamination", "sensitivity", "corpus_scan",
                                 "robustness", "comparison")
               if data.get(name) is not None]
    present += [name for name, _ in generic]
    dataset_charts = []
    if result.dataset is not None:
        for attribute, counts in result.dataset.counts.items():
            if counts:
                dataset_charts.append(charts.count_chart(counts, title=f"Records by {attribute}"))
    return {
        "r": data,
        "gate": gate.model_dump() if gate else None,
        "findings": findings,
        "tested": _tested(result),
        "not_tested": untested,
        "provenance": _provenance(result),
        "evaluation": _evaluation_view(result, data["evaluation"]) if result.evaluation else None,
        "worst_charts": worst_group_charts(result),
        "fold_k": FOLD_K,
        "reference_text": _reference_text(result),
        "card": build_card(result, card, model_title=model_title(result), not_tested=untested, privacy=privacy),
        "card_source": card_source,
        "demographic_inference": DEMOGRAPHIC_INFERENCE,
        "signoff": signoff,
        "signoff_source": signoff_source,
        "signoff_sha256": signoff_sha256,
        "signoff_note": _signoff_note(result, signoff),
        "signoff_record": signoff_record,
        "signed_audit_sha256": signed_audit_sha256,
        "contamination": contamination_view(result),
        "sensitivity": sensitivity_view(result),
        "robustness": _robustness_view(data["robustness"], gate) if result.robustness else None,
        "comparison": result.comparison,
        "dataset_charts": dataset_charts,
        "generic": generic,
        "present": present,
        "stages": AUDIT_STAGES,
        "show_faces": show_faces,
        "model_title": model_title(result),
        "privacy": privacy,
        "intersection_depth": max((len(g.attributes) for t in result.evaluation.tasks for g in t.groups),
                                  default=0) if result.evaluation else 0,
        "gate_certify_power": gate.certify_power if gate else None,
        "css": resources.files("faceaudit.report.templates").joinpath("report.css").read_text("utf-8"),
    }


def render_html(result: AuditResult, *, show_faces: bool = False, **inputs: Any) -> str:
    """The report as one HTML string; ``inputs`` are :func:`build_context`'s sign-off and card."""
    template = _environment().get_template("report.html.j2")
    return template.render(**build_context(result, show_faces=show_faces, **inputs))


def render_report(result: AuditResult, out_path: str | Path, *, show_faces: bool = False, **inputs: Any) -> Path:
    """Write the HTML report for ``result`` to ``out_path`` atomically; returns the path.

    A sign-off record beside it that the new page no longer shows is moved aside
    (:func:`faceaudit.report.inputs.retire_stale_record`); a signed render gets its record
    from the caller (``faceaudit report --signoff``) right after.
    """
    from faceaudit.report.inputs import retire_stale_record

    path = atomic_write_text(out_path, render_html(result, show_faces=show_faces, **inputs))
    retire_stale_record(path, resigned=inputs.get("signoff") is not None)
    return path

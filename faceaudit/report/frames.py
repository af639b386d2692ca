"""Tidy tables of an ``AuditResult`` for pandas users, and its short HTML for Jupyter.

``to_frame(result, "groups")`` has one row per task x group x metric; ``"disparities"`` one per
comparison; ``"checks"`` one per policy check; ``"targets"`` one per value a check judged. The
numbers are copied from ``audit.json`` as they are (NaN stays NaN); nothing is recomputed.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import pandas as pd

from faceaudit.errors import InputError

if TYPE_CHECKING:
    from faceaudit.schema import AuditResult

_ESTIMATE = ["value", "lower", "upper", "n", "method"]
COLUMNS: dict[str, list[str]] = {
    "groups": ["task", "group", "attributes", "order", "n_items", "n_images", "small_group", "metric", *_ESTIMATE],
    "disparities": ["task", "metric", "attributes", "order", "kind", "group", "reference_group", "worst_group",
                    "best_group", *_ESTIMATE, "test", "p_value", "p_adjusted", "significant", "correction"],
    "checks": ["id", "description", "severity", "verdict", "blocks", "operator", "limit", "side", "fail_when",
               "value", "lower", "upper", "n", "n_targets", "rationale"],
    "targets": ["check_id", "severity", "path", "group", "verdict", "value", "lower", "upper", "n", "p_harm",
                "p_adjusted", "certifiable", "detectable_harm", "items_to_certify"],
}


def _estimate(e: Any) -> dict[str, Any]:
    return {"value": e.value, "lower": e.lower, "upper": e.upper, "n": e.n, "method": e.method}


def _rows(result: AuditResult, kind: str) -> list[dict[str, Any]]:
    ev, gate = result.evaluation, result.gate
    if kind == "groups":
        return [
            {"task": t.task, "group": g.name, "attributes": " x ".join(g.attributes), "order": len(g.attributes),
             "n_items": g.n_items, "n_images": g.n_images, "small_group": g.small_group, "metric": metric,
             **_estimate(e)}
            for t in (ev.tasks if ev else []) for g in t.groups for metric, e in g.metrics.items()
        ]
    if kind == "disparities":
        return [
            {"task": t.task, "metric": d.metric, "attributes": " x ".join(d.attributes), "order": d.order,
             "kind": d.kind, "group": d.group, "reference_group": d.reference_group, "worst_group": d.worst_group,
             "best_group": d.best_group, **_estimate(d.estimate), "test": d.test, "p_value": d.p_value,
             "p_adjusted": d.p_adjusted, "significant": d.significant, "correction": d.correction}
            for t in (ev.tasks if ev else []) for d in t.disparities
        ]
    if kind == "checks":
        return [
            {"id": c.id, "description": c.description, "severity": c.severity, "verdict": c.verdict,
             "blocks": c.severity == "blocking" and (c.verdict == "FAIL" or (
                 c.verdict == "INSUFFICIENT_EVIDENCE" and c.insufficient_blocks)),
             "operator": c.operator, "limit": c.limit, "side": c.side, "fail_when": c.fail_when, "value": c.value,
             "lower": c.lower, "upper": c.upper, "n": c.n, "n_targets": sum(c.counts.values()),
             "rationale": c.rationale}
            for c in (gate.checks if gate else [])
        ]
    if kind == "targets":
        return [
            {"check_id": c.id, "severity": c.severity, "path": t.path, "group": t.group, "verdict": t.verdict,
             "value": t.value, "lower": t.lower, "upper": t.upper, "n": t.n, "p_harm": t.p_harm,
             "p_adjusted": t.p_adjusted, "certifiable": t.certifiable, "detectable_harm": t.detectable_harm,
             "items_to_certify": t.items_to_certify}
            for c in (gate.checks if gate else []) for t in c.targets
        ]
    raise InputError(f"to_frame: unknown table {kind!r} (accepted: {', '.join(COLUMNS)})")


def to_frame(result: AuditResult, kind: str = "groups") -> pd.DataFrame:
    """One tidy table of ``result``; an absent section gives an empty table with the same columns."""
    return pd.DataFrame(_rows(result, kind), columns=COLUMNS.get(kind))


def repr_html(result: AuditResult, worst: int = 5) -> str:
    """The verdict, what blocks, and each task's least accurate groups: a notebook cell's worth."""
    from faceaudit.report.findings import page_one_findings

    esc = html.escape
    gate = result.gate
    parts = ["<div class='faceaudit-result'>"]
    if gate is None:
        parts.append("<p><strong>NOT JUDGED</strong>: the gate has not run on this audit.</p>")
    else:
        parts.append(f"<p><strong>{esc(gate.verdict.replace('_', ' '))}</strong> — {esc(gate.reason)} "
                     f"(policy {esc(gate.policy_name)} {esc(gate.policy_version)})</p>")
        blocking = page_one_findings(result, per_check=1)
        if blocking:
            parts.append("<ul>" + "".join(f"<li>{esc(cf.findings[0].sentence if cf.findings else cf.headline)}</li>"
                                          for cf in blocking) + "</ul>")
    groups = to_frame(result, "groups")
    accuracy = groups[(groups.metric == "accuracy") & (groups.order == 1)]
    for task, rows in accuracy.groupby("task", sort=False):
        rows = rows.sort_values("value").head(worst)
        cells = "".join(
            f"<tr><td>{esc(r.group)}</td><td>{r.value:.3f}</td><td>[{r.lower:.3f}, {r.upper:.3f}]</td>"
            f"<td>{r.n_items}</td></tr>" for r in rows.itertuples())
        parts.append(f"<table><caption>{esc(str(task))}: least accurate groups</caption>"
                     f"<tr><th>group</th><th>accuracy</th><th>95% interval</th><th>n</th></tr>{cells}</table>")
    parts.append("</div>")
    return "".join(parts)

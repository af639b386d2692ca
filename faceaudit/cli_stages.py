"""The single-stage subcommands: generate, scan, train, evaluate, perturb, gate, report.

``generate``, ``train`` and ``evaluate`` are ``faceaudit run`` restricted to
one stage, with their most used options as flags (each flag is the same as a
``--set`` override, so a config file and the flags compose). ``gate`` and
``report`` read a stored ``audit.json`` and never recompute anything.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from faceaudit.cli_common import (
    EXIT_OK,
    UsageError,
    add_config_options,
    load_config_from_args,
    progress_enabled,
)


def add_stage_commands(commands: argparse._SubParsersAction) -> None:
    generate = commands.add_parser(
        "generate",
        help="generate a FairFaceGPT-style Q&A corpus for a face set",
        description="Generate the corpus (resumable JSONL), optionally export it as the "
        "ShareGPT JSON that LLaMA-Factory reads.",
    )
    add_config_options(generate)
    _add_dataset_option(generate)
    generate.add_argument("--backend", choices=["template", "openai", "hf"], help="generator backend")
    generate.add_argument("--model", help="openai: model name; hf: checkpoint directory or hub id")
    generate.add_argument("--base-url", help="openai: API root, e.g. http://127.0.0.1:8000/v1")
    generate.add_argument("--api-key-env", help="openai: environment variable holding the API key")
    generate.add_argument("--aspects", help="comma-separated aspect ids (default: all eight)")
    generate.add_argument("--limit", type=int, help="use at most this many images")
    generate.add_argument("--concurrency", type=int, help="openai: requests in flight")
    generate.add_argument("--sharegpt", type=Path, help="also export the corpus to this ShareGPT JSON file")
    generate.set_defaults(handler=_cmd_generate)

    _add_scan_command(commands)

    train = commands.add_parser(
        "train",
        help="LoRA fine-tuning of InternVL3 on a corpus (the FaceLLM recipe)",
        description="Train a LoRA adapter with a recipe from training/ (tiny, facellm-1b, "
        "facellm-8b, facellm-38b) or a recipe YAML. Without --corpus the corpus is generated first.",
    )
    add_config_options(train)
    _add_dataset_option(train)
    train.add_argument("--recipe", help="recipe name or YAML path (default: tiny)")
    train.add_argument("--corpus", type=Path, help="existing corpus: JSONL from `generate` or ShareGPT JSON")
    train.set_defaults(handler=_cmd_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="per-group evaluation of a model on multiple-choice face questions",
        description="Evaluate a model per sensitive group and intersection, with intervals. "
        "Writes audit.json with the evaluation section; run `faceaudit gate` on it.",
    )
    add_config_options(evaluate)
    _add_dataset_option(evaluate)
    evaluate.add_argument(
        "--backend", choices=["hf", "openai", "predictions", "simulated"],
        help="who answers: a transformers checkpoint, an OpenAI-compatible endpoint, a predictions file, "
        "or a simulated model with planted per-group accuracy (default: the config's evaluate.backend)",
    )
    evaluate.add_argument("--model", help="hf: checkpoint directory or hub id; openai: model name")
    evaluate.add_argument("--adapter", type=Path, help="hf: peft adapter directory")
    evaluate.add_argument(
        "--mode", choices=["scoring", "generation"],
        help="scoring: option-letter log-probabilities; generation: generated text, parsed (default: the config's evaluate.mode)",
    )
    evaluate.add_argument("--predictions", type=Path, help="predictions backend: CSV/JSONL of answers")
    evaluate.add_argument("--base-url", help="openai: API root")
    evaluate.set_defaults(handler=_cmd_evaluate)

    perturb = commands.add_parser(
        "perturb",
        help="robustness under lighting, occlusion and capture-quality perturbations, per group",
        description="Add the robustness section to an existing run: its evaluation predictions "
        "are the clean pass; the gate and report of the run are refreshed.",
    )
    perturb.add_argument("run_dir", type=Path, help="a run directory holding audit.json with an evaluation")
    perturb.add_argument("--families", help="comma-separated families (default: lighting,occlusion)")
    perturb.add_argument("--max-images", type=int, help="perturb at most this many images")
    perturb.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config field of the run, e.g. --set perturb.severities=[1,3,5]",
    )
    perturb.set_defaults(handler=_cmd_perturb)

    gate = commands.add_parser(
        "gate",
        help="judge a stored audit.json against the release policy (exit code = verdict)",
        description="Apply a policy to audit.json without recomputing any measurement, store the "
        "verdict in audit.json and write junit.xml beside it (a report.html there is re-rendered). "
        "Exit codes: 0 PASS, 1 FAIL, 2 INSUFFICIENT EVIDENCE (unless --insufficient-ok), "
        "3 usage error, 4 runtime error.",
    )
    gate.add_argument("audit", type=Path, help="audit.json")
    gate.add_argument("--policy", type=Path, help="policy YAML (default: the shipped default policy)")
    gate.add_argument("--baseline", type=Path, help="audit.json of the base model or last release "
                      "(default: the run's in-run baseline, baseline/audit.json, when it had one)")
    gate.add_argument("--junit", type=Path, help="write JUnit XML here (default: junit.xml beside audit.json)")
    gate.add_argument(
        "--no-write", action="store_true",
        help="judge only: leave audit.json, junit.xml and report.html as they are (a read-only artefact)",
    )
    gate.add_argument("--markdown", type=Path, help="write a Markdown summary here (for CI pages)")
    gate.add_argument(
        "--insufficient-ok",
        action="store_true",
        help="INSUFFICIENT EVIDENCE does not block (exit 0); the default is to block",
    )
    gate.set_defaults(handler=_cmd_gate)

    report = commands.add_parser(
        "report",
        help="render the HTML audit report from audit.json",
        description="Render a self-contained HTML report from audit.json (nothing is recomputed). "
        "The verdict shown is the one stored in audit.json, or the one --policy gives (then stored).",
    )
    report.add_argument("audit", type=Path, help="audit.json")
    report.add_argument("--output", "-o", type=Path, help="default: report.html next to audit.json")
    report.add_argument(
        "--policy", type=Path,
        help="judge with this policy first and store the verdict (default: the verdict stored by "
        "`faceaudit gate` or `faceaudit run`)",
    )
    report.add_argument("--baseline", type=Path, help="with --policy: audit.json of the baseline")
    report.add_argument("--insufficient-ok", action="store_true",
                        help="with --policy: INSUFFICIENT EVIDENCE does not block")
    report.add_argument(
        "--signoff", type=Path,
        help="YAML with reviewer, role, date (YYYY-MM-DD), decision (approved | approved with conditions | "
        "rejected | deferred), comments, conditions: fills the sign-off block (default: blank, to sign on paper)",
    )
    report.add_argument(
        "--card", type=Path,
        help="YAML with the model owner's model-card statements: model_description, owner, intended_use, "
        "intended_users, out_of_scope_uses, training_data, evaluation_data, licences, "
        "ethical_considerations, caveats, datasheet (see docs/report.md)",
    )
    report.add_argument(
        "--pdf", nargs="?", const=True, default=None, metavar="PATH",
        help="also print the report to PDF with headless Chromium (default path: the report's, ending .pdf)",
    )
    report.set_defaults(handler=_cmd_report)


def _add_scan_command(commands: argparse._SubParsersAction) -> None:
    scan = commands.add_parser(
        "scan",
        help="scan a Q&A corpus for bias, label contradictions and hygiene; export a review queue",
        description="Scan the corpus of a run directory, a corpus file (JSONL from `generate`, or "
        "ShareGPT/FairFaceGPT JSON) or, without SOURCE, a freshly generated corpus. Writes a new "
        "run with audit.json (corpus_scan section) and scan/review_queue.csv + scan/review.html.",
    )
    add_config_options(scan)
    _add_dataset_option(scan)
    scan.add_argument("source", nargs="?", type=Path, help="a run directory or a corpus file")
    scan.add_argument("--labels", type=Path, help="labels of the corpus's images: a FairFace label "
                      "CSV or a manifest (default: the dataset's records)")
    scan.add_argument("--attributes", help="comma-separated sensitive attributes (default: the dataset's)")
    scan.add_argument("--verdicts", type=Path, help="a reviewer's verdicts CSV to import")
    scan.add_argument("--require-review", action="store_true",
                      help="the gate may PASS only once the review sample is fully reviewed")
    scan.set_defaults(handler=_cmd_scan)


def _add_dataset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        type=Path,
        help="a FairFace folder, a manifest (CSV/JSONL) or a FaceXBench folder/JSON "
        "(default: the synthetic face set)",
    )


def dataset_values(path: Path) -> dict[str, Any]:
    """``--dataset PATH`` as config values, recognising the layout."""
    from faceaudit.data.validate import detect_kind

    if not path.exists():
        raise UsageError(f"dataset {path} does not exist")
    kind = detect_kind(path)
    if kind == "unknown":
        raise UsageError(
            f"{path}: not a FairFace folder, a manifest (CSV/JSONL) or FaceXBench JSON files"
        )
    return {"dataset.kind": kind, "dataset.path": str(path)}


def _flag_values(args: argparse.Namespace, section: str, names: dict[str, str]) -> dict[str, Any]:
    """The flags that were given, as typed config values (a flag is never re-read as YAML)."""
    values: dict[str, Any] = {}
    for attribute, field in names.items():
        value = getattr(args, attribute, None)
        if value is not None:
            values[f"{section}.{field}"] = str(value) if isinstance(value, Path) else value
    return values


def _stage_config(args: argparse.Namespace, values: dict[str, Any]):
    if getattr(args, "dataset", None) is not None:
        values = {**dataset_values(args.dataset), **values}
    return load_config_from_args(args, values)  # explicit --set wins over flags


def _run_stages(args: argparse.Namespace, config, only: set[str]):  # -> RunOutcome
    from faceaudit.pipeline import run_audit

    command = shlex.join(["faceaudit", *sys.argv[1:]])
    outcome = run_audit(config, progress=progress_enabled(args), command=command, only=only)
    if not outcome.wrote:  # a data-parallel process other than rank 0: rank 0 reports
        return outcome
    print(f"audit:   {outcome.audit_path}")
    if outcome.report_path:
        print(f"report:  {outcome.report_path}")
    return outcome


def _cmd_generate(args: argparse.Namespace) -> int:
    values = _flag_values(
        args,
        "corpus",
        {"backend": "backend", "model": "model", "base_url": "base_url",
         "api_key_env": "api_key_env", "limit": "limit", "concurrency": "concurrency"},
    )
    if args.aspects:
        values["corpus.aspects"] = [a.strip() for a in args.aspects.split(",") if a.strip()]
    config = _stage_config(args, values)
    outcome = _run_stages(args, config, {"corpus"})
    corpus = outcome.result.corpus
    assert corpus is not None  # the corpus stage ran
    corpus_path = outcome.run_dir / config.corpus.output
    print(f"corpus:  {corpus_path} ({corpus.n_accepted} accepted, {corpus.n_rejected} rejected)")
    if args.sharegpt:
        from faceaudit.corpus import export_sharegpt, llamafactory_instructions

        print(f"sharegpt: {export_sharegpt(corpus_path, args.sharegpt)}")
        # Exported paths are relative to the dataset root: that is LLaMA-Factory's media_dir.
        print(llamafactory_instructions(args.sharegpt, outcome.result.dataset.root))
    return EXIT_OK


def _cmd_scan(args: argparse.Namespace) -> int:
    extra: dict[str, Any] = {}
    source = args.source
    if source is not None and source.is_dir():
        if not (source / "config.yaml").is_file():
            raise UsageError(f"{source} is not a run directory (it has no config.yaml)")
        if args.config is None:
            args.config = source / "config.yaml"
        # The run's own directory keeps its audit.json: the scan is written as a new run.
        extra["run_id"] = None
        import yaml

        run_config = yaml.safe_load((source / "config.yaml").read_text(encoding="utf-8")) or {}
        corpus_file = source / ((run_config.get("corpus") or {}).get("output") or "corpus/corpus.jsonl")
        if not corpus_file.is_file():
            raise UsageError(f"{source} has no corpus at {corpus_file}")
        extra["corpus.source"] = str(corpus_file)
    elif source is not None:
        if not source.is_file():
            raise UsageError(f"{source} is neither a run directory nor a corpus file")
        extra["corpus.source"] = str(source)
    if args.labels is not None:
        extra["scan.labels"] = str(args.labels)
    if args.attributes:
        extra["scan.attributes"] = [a.strip() for a in args.attributes.split(",") if a.strip()]
    if args.verdicts is not None:
        extra["scan.review.verdicts"] = str(args.verdicts)
    if args.require_review:
        extra["scan.review.require"] = True
    extra["scan.enabled"] = True
    config = _stage_config(args, extra)
    from faceaudit.pipeline import run_audit

    command = shlex.join(["faceaudit", *sys.argv[1:]])
    outcome = run_audit(config, progress=progress_enabled(args), command=command, only={"corpus", "scan"})
    scan = outcome.result.corpus_scan
    if scan is None:
        raise UsageError("the scan did not run: the run has no corpus (corpus.enabled is false)")
    print(_scan_summary(scan, outcome.run_dir))
    print(f"audit:   {outcome.audit_path}")
    return EXIT_OK


def _scan_summary(scan, run_dir: Path) -> str:
    lines = [f"scanned: {scan.corpus_path} ({', '.join(scan.scanners_run)}; {scan.wall_time_s:.1f} s)"]
    if scan.representation is not None:
        r = scan.representation
        lines.append(f"corpus:  {r.n_pairs:,} pairs on {r.n_images:,} images "
                     f"({r.n_unlabelled_pairs:,} unlabelled)")
    if scan.label_consistency is not None:
        e = scan.label_consistency.rates["any_contradiction"].overall
        lines.append(f"labels:  {100 * e.value:.2f}% of answers contradict a label "
                     f"(95% CI {100 * e.lower:.2f} to {100 * e.upper:.2f}%)")
    if scan.association is not None:
        a = scan.association
        top = [f"{w.word!r} for {w.attribute}={w.group}" for w in a.words if w.significant][:5]
        lines.append(f"words:   {a.n_significant} over-used word(s) after BH at {a.fdr}"
                     + (f": {', '.join(top)}" if top else ""))
    if scan.hygiene is not None:
        h = scan.hygiene
        lines.append(f"hygiene: {h.n_exact_duplicates:,} exact / {h.n_near_duplicates:,} near duplicates, "
                     f"{h.n_cross_group_copies:,} cross-group copies, {h.n_personal_data} with personal data")
    if scan.review is not None:
        v = scan.review
        lines.append(f"review:  {v.n_queued} queued ({v.n_sampled} sampled, {v.n_flagged} flagged); "
                     f"{v.n_checked} checked by a human")
        if v.queue_html:
            lines.append(f"         {run_dir / v.queue_html}")
    return "\n".join(lines)


def _cmd_train(args: argparse.Namespace) -> int:
    values = _flag_values(args, "train", {"recipe": "recipe"})
    if args.corpus is not None:
        values["corpus.source"] = str(args.corpus)
    config = _stage_config(args, values)
    _warn_template_corpus(config)
    _run_stages(args, config, {"corpus", "train"})
    return EXIT_OK


def _warn_template_corpus(config) -> None:
    """A real model's recipe (FaceLLM's) fed the offline template corpus learns label sentences."""
    import logging

    from faceaudit.train.recipe import TINY_BASE, resolve_recipe

    if config.corpus.source is not None or config.corpus.backend != "template" or not config.train.enabled:
        return
    train = config.train
    recipe = resolve_recipe(train.recipe, overrides=train.overrides, base_model=train.base_model)
    if recipe.base_model == TINY_BASE:
        return
    logging.getLogger("faceaudit").warning(
        "recipe %s trains %s on the offline template corpus (no --corpus, corpus.backend: template): its "
        "answers are sentences built from the data set's labels, not FairFaceGPT's descriptions, so the "
        "adapter does not reproduce FaceLLM. Pass --corpus with FairFaceGPT's ShareGPT JSON or a corpus "
        "from `faceaudit generate --backend openai`.", recipe.name, recipe.base_model)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    values = _flag_values(
        args,
        "evaluate",
        {"backend": "backend", "model": "model", "adapter": "adapter", "mode": "mode",
         "predictions": "predictions_file", "base_url": "base_url"},
    )
    _run_stages(args, _stage_config(args, values), {"evaluate"})
    return EXIT_OK


def _cmd_perturb(args: argparse.Namespace) -> int:
    from faceaudit.config import ConfigError
    from faceaudit.pipeline import perturb_existing_run

    overrides = list(args.overrides)
    if args.families:
        overrides.insert(0, f"perturb.families=[{args.families}]")
    if args.max_images is not None:
        overrides.insert(0, f"perturb.max_images={args.max_images}")
    try:
        audit = perturb_existing_run(args.run_dir, overrides, progress=progress_enabled(args))
    except (ConfigError, FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    if int(os.environ.get("RANK", "0") or 0) == 0:  # under a launcher, rank 0 wrote the audit
        print(f"audit:   {audit}")
    return EXIT_OK


def _read_audit(path: Path):
    from faceaudit.schema import AuditResult

    return AuditResult.load(path)


def _judge(result, policy_path: Path | None, baseline_path: Path | None, blocks: bool,
           audit_path: Path):  # -> GateSection
    """The verdict on ``result``, against ``--baseline``, else the run's own in-run baseline
    (``baseline/audit.json`` beside ``audit_path`` when the run had ``baseline.enabled``)."""
    from faceaudit.gate import PolicyError, evaluate_gate, load_policy
    from faceaudit.pipeline import stored_baseline

    if baseline_path:
        baseline = _read_audit(baseline_path)
    else:  # gate.baseline is a path from the run's working directory: only --baseline names one here
        baseline = stored_baseline(audit_path.parent, result.run.config, gate_file=False)
    try:
        policy = load_policy(policy_path)
    except PolicyError as error:
        raise UsageError(str(error)) from None
    return evaluate_gate(result, policy, baseline=baseline, insufficient_blocks=blocks)


def _write_back(audit_path: Path, result, *, renders: Path | None = None) -> None:
    """Store ``result`` (with its new verdict) in ``audit_path``, and keep the files beside it in step.

    The provenance is derived again (the policy hash is part of it); a report.html beside
    audit.json is re-rendered so that it never shows another verdict than the stored one,
    unless it is ``renders``, the report the caller writes next (with its sign-off, if any).
    """
    from faceaudit.pipeline import VERDICT_DROPPED
    from faceaudit.provenance import derive_provenance

    # The note that an earlier verdict was dropped is answered by this one.
    result.warnings = [w for w in result.warnings if w.detail.get("kind") != VERDICT_DROPPED]
    result.provenance = derive_provenance(result)
    result.save(audit_path)
    report = audit_path.with_name("report.html")
    if report.is_file() and (renders is None or report.resolve() != renders.resolve()):
        from faceaudit.report import render_report

        render_report(result, report)


def _locked(audit_path: Path):
    """The run directory's lock when ``audit_path`` is in one (no other run writes it meanwhile)."""
    from faceaudit.store import RunStore

    directory = audit_path.parent
    return RunStore(directory).lock() if (directory / "config.yaml").is_file() else nullcontext()


def _cmd_gate(args: argparse.Namespace) -> int:
    from faceaudit.gate import exit_code, markdown_summary, write_junit
    from faceaudit.store import atomic_write_text

    blocks = not args.insufficient_ok
    with nullcontext() if args.no_write else _locked(args.audit):
        result = _read_audit(args.audit)
        gate = _judge(result, args.policy, args.baseline, blocks, args.audit)
        result.gate = gate
        if "gate" not in result.run.stages_run:
            result.run.stages_run.append("gate")
        junit = args.junit
        if not args.no_write:
            _write_back(args.audit, result)
            junit = junit or args.audit.with_name("junit.xml")
        if junit:
            write_junit(gate, junit)
    summary = markdown_summary(gate)
    if args.markdown:
        atomic_write_text(args.markdown, summary)
    print(summary)
    return exit_code(gate, blocks)


def _cmd_report(args: argparse.Namespace) -> int:
    from faceaudit.report import render_report
    from faceaudit.report.inputs import report_inputs, signed_inputs, write_signoff_record

    out = args.output or args.audit.with_name("report.html")
    if out.suffix.lower() not in {".html", ".htm"}:
        raise UsageError("--output must end in .html")
    pdf = out.with_suffix(".pdf") if args.pdf is True else (Path(args.pdf) if args.pdf else None)
    if pdf is not None and pdf.suffix.lower() != ".pdf":
        raise UsageError("--pdf must end in .pdf")
    inputs = report_inputs(args.signoff, args.card)  # read before the lock: a bad file changes nothing
    with _locked(args.audit):
        result = _read_audit(args.audit)
        if args.policy is not None:
            # Judged here and stored, so audit.json, junit.xml and the report agree.
            from faceaudit.gate import write_junit

            result.gate = _judge(result, args.policy, args.baseline, not args.insufficient_ok, args.audit)
            if "gate" not in result.run.stages_run:
                result.run.stages_run.append("gate")
            _write_back(args.audit, result, renders=out)
            write_junit(result.gate, args.audit.with_name("junit.xml"))
        inputs = signed_inputs(inputs, args.audit, out)  # the audit.json as signed: after any write-back
        print(f"report: {render_report(result, out, **inputs)}")
        record = write_signoff_record(inputs, args.audit, out, result)
        if record is not None:
            print(f"signoff: {record}")
    if pdf is not None:
        from faceaudit.report.pdf import export_pdf

        print(f"pdf:    {export_pdf(out, pdf)}")
    shown = result.gate.verdict.replace("_", " ") if result.gate else "NOT JUDGED (run `faceaudit gate` or pass --policy)"
    print(f"verdict: {shown}")
    return EXIT_OK

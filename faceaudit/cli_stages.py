"""The single-stage subcommands: generate, train, evaluate, perturb, gate, report.

``generate``, ``train`` and ``evaluate`` are ``faceaudit run`` restricted to
one stage, with their most used options as flags (each flag is the same as a
``--set`` override, so a config file and the flags compose). ``gate`` and
``report`` read a stored ``audit.json`` and never recompute anything.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from faceaudit.cli import (
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    _add_config_options,
    _load_config,
    _progress,
)


def add_stage_commands(commands: argparse._SubParsersAction) -> None:
    generate = commands.add_parser(
        "generate",
        help="generate a FairFaceGPT-style Q&A corpus for a face set",
        description="Generate the corpus (resumable JSONL), optionally export it as the "
        "ShareGPT JSON that LLaMA-Factory reads.",
    )
    _add_config_options(generate)
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

    train = commands.add_parser(
        "train",
        help="LoRA fine-tuning of InternVL3 on a corpus (the FaceLLM recipe)",
        description="Train a LoRA adapter with a recipe from training/ (tiny, facellm-1b, "
        "facellm-8b, facellm-38b) or a recipe YAML. Without --corpus the corpus is generated first.",
    )
    _add_config_options(train)
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
    _add_config_options(evaluate)
    _add_dataset_option(evaluate)
    evaluate.add_argument("--backend", choices=["hf", "openai", "predictions", "simulated"])
    evaluate.add_argument("--model", help="hf: checkpoint directory or hub id; openai: model name")
    evaluate.add_argument("--adapter", type=Path, help="hf: peft adapter directory")
    evaluate.add_argument("--mode", choices=["scoring", "generation"])
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
        help="re-evaluate the release policy on a stored audit.json (exit code = verdict)",
        description="Apply a policy to audit.json without recomputing anything. Exit codes: "
        "0 PASS, 1 FAIL, 2 INSUFFICIENT EVIDENCE (unless --insufficient-ok), 3 usage error.",
    )
    gate.add_argument("audit", type=Path, help="audit.json")
    gate.add_argument("--policy", type=Path, help="policy YAML (default: the shipped default policy)")
    gate.add_argument("--baseline", type=Path, help="audit.json of the base model or last release")
    gate.add_argument("--junit", type=Path, help="write JUnit XML here (one test case per check)")
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
        description="Render a self-contained HTML report from audit.json (nothing is recomputed).",
    )
    report.add_argument("audit", type=Path, help="audit.json")
    report.add_argument("--output", "-o", type=Path, help="default: report.html next to audit.json")
    report.set_defaults(handler=_cmd_report)


def _add_dataset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        type=Path,
        help="a FairFace folder, a manifest (CSV/JSONL) or a FaceXBench folder/JSON "
        "(default: the synthetic face set)",
    )


def dataset_overrides(path: Path) -> list[str]:
    """``--dataset PATH`` as config overrides, recognising the layout."""
    from faceaudit.data.validate import detect_kind

    if not path.exists():
        raise UsageError(f"dataset {path} does not exist")
    kind = detect_kind(path)
    if kind == "unknown":
        raise UsageError(
            f"{path}: not a FairFace folder, a manifest (CSV/JSONL) or FaceXBench JSON files"
        )
    return [f"dataset.kind={kind}", f"dataset.path={path}"]


def _flag_overrides(args: argparse.Namespace, section: str, names: dict[str, str]) -> list[str]:
    overrides = []
    for attribute, field in names.items():
        value = getattr(args, attribute, None)
        if value is not None:
            overrides.append(f"{section}.{field}={value}")
    return overrides


def _stage_config(args: argparse.Namespace, extra: list[str]):
    if getattr(args, "dataset", None) is not None:
        extra = dataset_overrides(args.dataset) + extra
    args.overrides = extra + list(args.overrides)  # explicit --set wins
    return _load_config(args)


def _run_stages(args: argparse.Namespace, config, only: set[str]) -> int:
    from faceaudit.pipeline import run_audit

    command = shlex.join(["faceaudit", *sys.argv[1:]])
    outcome = run_audit(config, progress=_progress(args), command=command, only=only)
    print(f"audit:   {outcome.audit_path}")
    return EXIT_OK


def _cmd_generate(args: argparse.Namespace) -> int:
    extra = _flag_overrides(
        args,
        "corpus",
        {"backend": "backend", "model": "model", "base_url": "base_url",
         "api_key_env": "api_key_env", "limit": "limit", "concurrency": "concurrency"},
    )
    if args.aspects:
        extra.append(f"corpus.aspects=[{args.aspects}]")
    config = _stage_config(args, extra)
    from faceaudit.pipeline import run_audit

    outcome = run_audit(config, progress=_progress(args), only={"corpus"})
    corpus = outcome.result.corpus
    assert corpus is not None  # the corpus stage ran
    corpus_path = outcome.run_dir / config.corpus.output
    print(f"corpus:  {corpus_path} ({corpus.n_accepted} accepted, {corpus.n_rejected} rejected)")
    if args.sharegpt:
        from faceaudit.corpus import export_sharegpt, llamafactory_instructions

        print(f"sharegpt: {export_sharegpt(corpus_path, args.sharegpt)}")
        # Exported paths are relative to the dataset root: that is LLaMA-Factory's media_dir.
        print(llamafactory_instructions(args.sharegpt, outcome.result.dataset.root))
    print(f"audit:   {outcome.audit_path}")
    return EXIT_OK


def _cmd_train(args: argparse.Namespace) -> int:
    extra = _flag_overrides(args, "train", {"recipe": "recipe"})
    only = {"corpus", "train"}
    if args.corpus is not None:
        extra.append(f"corpus.source={args.corpus}")
    config = _stage_config(args, extra)
    return _run_stages(args, config, only)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    extra = _flag_overrides(
        args,
        "evaluate",
        {"backend": "backend", "model": "model", "adapter": "adapter", "mode": "mode",
         "predictions": "predictions_file", "base_url": "base_url"},
    )
    config = _stage_config(args, extra)
    return _run_stages(args, config, {"evaluate"})


def _cmd_perturb(args: argparse.Namespace) -> int:
    from faceaudit.config import ConfigError
    from faceaudit.perturb.run import perturb_existing_run

    overrides = list(args.overrides)
    if args.families:
        overrides.insert(0, f"perturb.families=[{args.families}]")
    if args.max_images is not None:
        overrides.insert(0, f"perturb.max_images={args.max_images}")
    try:
        audit = perturb_existing_run(args.run_dir, overrides, progress=_progress(args))
    except (ConfigError, FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    print(f"audit:   {audit}")
    return EXIT_OK


def _read_audit(path: Path):
    from faceaudit.schema import AuditResult

    try:
        return AuditResult.load(path)
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None


def _cmd_gate(args: argparse.Namespace) -> int:
    from faceaudit.gate import (
        evaluate_gate,
        exit_code,
        load_policy,
        markdown_summary,
        write_junit,
    )
    from faceaudit.store import atomic_write_text

    result = _read_audit(args.audit)
    baseline = _read_audit(args.baseline) if args.baseline else None
    try:
        policy = load_policy(args.policy)
    except ValueError as error:
        raise UsageError(str(error)) from None
    blocks = not args.insufficient_ok
    gate = evaluate_gate(result, policy, baseline=baseline, insufficient_blocks=blocks)
    if args.junit:
        write_junit(gate, args.junit)
    summary = markdown_summary(gate)
    if args.markdown:
        atomic_write_text(args.markdown, summary)
    print(summary)
    return exit_code(gate, blocks)


def _cmd_report(args: argparse.Namespace) -> int:
    result = _read_audit(args.audit)
    from faceaudit.report import render_report

    out = args.output or args.audit.with_name("report.html")
    if out.suffix.lower() not in {".html", ".htm"}:
        print("faceaudit: error: --output must end in .html", file=sys.stderr)
        return EXIT_USAGE
    print(f"report: {render_report(result, out)}")
    return EXIT_OK

"""The researcher's subcommands: ``faceaudit items export|import`` and ``faceaudit compare``."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from faceaudit.cli_common import Parser, add_config_options, load_config_from_args
from faceaudit.errors import InputError


def add_research_commands(commands: argparse._SubParsersAction) -> None:
    items = commands.add_parser(
        "items", help="export the items an audit asks for outside harnesses; read their answers back"
    )
    actions = items.add_subparsers(dest="items_command", metavar="ACTION", parser_class=Parser)
    actions.required = True
    export = actions.add_parser(
        "export",
        help="write the evaluation items as JSONL, a VLMEvalKit MCQ TSV and FaceXBench benchmark files",
        description="Writes the exact items `faceaudit run` asks with a config (or a finished run's "
        "config): items.jsonl, vlmevalkit/<name>.tsv and facexbench/benchmark/. Answer them "
        "elsewhere, then `faceaudit items import` the answers and evaluate with "
        "--backend predictions.",
    )
    export.add_argument("run_dir", nargs="?", type=Path,
                        help="a run directory: export the items its config.yaml asks (default: --config)")
    add_config_options(export)
    export.add_argument("--out", type=Path, required=True, help="folder to write the export into")
    export.add_argument("--name", default="faceaudit_items", help="benchmark name of the TSV (default %(default)s)")
    export.add_argument("--format", dest="formats", action="append", choices=["vlmevalkit", "facexbench"],
                        help="extra forms beside items.jsonl (repeatable; default: both)")
    export.set_defaults(handler=_cmd_items_export)

    back = actions.add_parser(
        "import",
        help="turn a harness's answers (index/item_id + prediction) into a predictions file",
        description="Reads a result table (TSV, CSV or JSONL) with a key column (item_id, index "
        "or facexbench_id) and an answer column (prediction, predicted or response), "
        "checks that every exported item is answered exactly once, and writes the JSONL that "
        "`evaluate.backend: predictions` reads.",
    )
    back.add_argument("answers", type=Path, help="the harness's result table")
    back.add_argument("--items", type=Path, required=True, help="the folder `faceaudit items export` wrote")
    back.add_argument("--out", type=Path, required=True, help="predictions JSONL to write")
    back.set_defaults(handler=_cmd_items_import)

    compare = commands.add_parser(
        "compare",
        help="per-group accuracy changes between two audits of the same items, paired",
        description="B against A, group by group: the change in accuracy with Newcombe's paired "
        "interval and McNemar's exact test on the items both audits asked, Holm-corrected; prints "
        "who got better and who got worse as Markdown (for a pull request).",
    )
    compare.add_argument("a", type=Path, help="the reference audit.json (e.g. the base model)")
    compare.add_argument("b", type=Path, help="the audit.json to compare with it (e.g. the candidate)")
    compare.add_argument("--markdown", type=Path, metavar="FILE", help="also write the Markdown summary to FILE")
    compare.add_argument("--html", type=Path, metavar="FILE", help="write the comparison as an HTML page")
    compare.add_argument("--json", dest="json_out", type=Path, metavar="FILE", help="write the comparison as JSON")
    compare.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate (default %(default)s)")
    compare.set_defaults(handler=_cmd_compare)


def _check_against_audit(run_dir: Path, items: list) -> None:
    """A run that evaluated stores each task's sorted item ids' hash: the export must match it."""
    from faceaudit.schema import AuditResult

    audit = run_dir / "audit.json"
    if not audit.is_file():
        return
    evaluation = AuditResult.load(audit).evaluation
    if evaluation is None:
        return
    for task in evaluation.tasks:
        if task.outcomes is None:
            continue
        ids = sorted(item.item_id for item in items if item.task == task.task)
        digest = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()
        if digest != task.outcomes.items_sha256:
            raise InputError(
                f"{audit}: task {task.task!r} was evaluated on {task.outcomes.n} other items than the "
                f"{len(ids)} its config.yaml builds now (the data changed?); nothing exported"
            )


def _cmd_items_export(args: argparse.Namespace) -> int:
    from faceaudit.items import FORMATS, audit_items, export_items

    if args.run_dir is not None:
        from faceaudit.config import load_config

        config_path = args.run_dir / "config.yaml"
        if not config_path.is_file():
            raise InputError(f"{args.run_dir} is not a run directory (no config.yaml)")
        if args.config is not None:
            raise InputError("give a run directory or --config, not both")
        config = load_config(config_path, list(args.overrides))
        work_dir = args.run_dir
    else:
        config = load_config_from_args(args)
        work_dir = args.out
    items, root = audit_items(config, work_dir)
    if args.run_dir is not None:
        _check_against_audit(args.run_dir, items)
    formats = ["jsonl", *(args.formats or FORMATS[1:])]
    written = export_items(items, root, args.out, name=args.name, formats=formats)
    print(f"exported {len(items)} items ({len({i.task for i in items})} task(s))")
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return 0


def _cmd_items_import(args: argparse.Namespace) -> int:
    from faceaudit.items import import_answers

    path = import_answers(args.answers, args.items, args.out)
    print(f"predictions: {path}")
    print(f"evaluate with: faceaudit evaluate --backend predictions --predictions {path} --mode generation")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from faceaudit.compare import compare_audits, render_comparison_html, to_markdown
    from faceaudit.schema import AuditResult
    from faceaudit.store import atomic_write_text

    if not 0 < args.alpha < 1:
        raise InputError(f"--alpha must be between 0 and 1, got {args.alpha}")
    comparison = compare_audits(AuditResult.load(args.a), AuditResult.load(args.b),
                                a_name=str(args.a), b_name=str(args.b), alpha=args.alpha)
    summary = to_markdown(comparison)
    print(summary, end="")
    if args.markdown:
        atomic_write_text(args.markdown, summary)
    if args.html:
        render_comparison_html(comparison, args.html)
    if args.json_out:
        atomic_write_text(args.json_out, comparison.model_dump_json(indent=2) + "\n")
    return 0

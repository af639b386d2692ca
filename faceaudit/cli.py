"""The ``faceaudit`` command. Thin: parse, call the library, print, exit.

Exit codes (stable; CI pipelines depend on them) are the one table in
:mod:`faceaudit.errors`:

    0  success; for ``gate`` and ``run``: the verdict is PASS
    1  the verdict is FAIL (``gate``, ``run``), or ``data validate`` found problems
    2  the verdict is INSUFFICIENT EVIDENCE and insufficient evidence blocks
    3  usage error: bad arguments, invalid config or policy, unreadable or malformed input
    4  runtime error: a stage failed (the message says which and why; --verbose: the traceback)

Logs and progress go to stderr; results go to files (and a one-line summary to
stdout). ``--quiet`` silences logs below WARNING and all progress bars.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from faceaudit import __version__
from faceaudit.cli_common import (
    EXIT_CODES_HELP,
    EXIT_FAIL,
    EXIT_INSUFFICIENT,
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_USAGE,
    Parser,
    UsageError,
    add_config_options,
    load_config_from_args,
    progress_enabled,
)
from faceaudit.errors import EXIT_INTERRUPTED, FaceauditError
from faceaudit.textsafe import terminal_text

__all__ = ["EXIT_FAIL", "EXIT_INSUFFICIENT", "EXIT_OK", "EXIT_RUNTIME", "EXIT_USAGE", "build_parser", "main"]

log = logging.getLogger("faceaudit")

# Names the subcommand modules of other stages use.
_Parser = Parser
_add_config_options = add_config_options
_load_config = load_config_from_args
_progress = progress_enabled
_EXIT_CODES_HELP = EXIT_CODES_HELP


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="faceaudit",
        description="Fairness and robustness audits for face-understanding multimodal LLMs.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"faceaudit {__version__}")
    parser.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors; no progress bars")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    run = commands.add_parser(
        "run",
        help="the whole pipeline: data, corpus, training, evaluation, gate, report",
        description="Run every enabled stage from one config. With no arguments: the embedded "
        "default (synthetic faces, template corpus, tiny InternVL with LoRA), fully offline.",
    )
    _add_config_options(run)
    run.add_argument(
        "--print-config", action="store_true",
        help="print the resolved config, each field with its description, and exit",
    )
    run.set_defaults(handler=_cmd_run)

    data = commands.add_parser("data", help="inspect, validate and render face datasets")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    data_commands.required = True
    summarize = data_commands.add_parser(
        "summarize", help="counts per attribute and intersection, and the fingerprint"
    )
    summarize.add_argument("path", type=Path, help="FairFace folder or manifest (CSV/JSONL)")
    summarize.add_argument("--json", action="store_true", help="print the dataset section as JSON")
    summarize.set_defaults(handler=_cmd_data_summarize)
    validate = data_commands.add_parser(
        "validate", help="check a FairFace-layout folder or a manifest and report what was found"
    )
    validate.add_argument("path", type=Path, help="FairFace folder, FaceXBench folder or file, or manifest (CSV/JSONL)")
    validate.set_defaults(handler=_cmd_data_validate)
    render = data_commands.add_parser("render-synthetic", help="render the synthetic face set")
    render.add_argument("out_dir", type=Path, help="folder to write the faces and their manifest into")
    render.add_argument("--n", type=int, default=3000, help="number of faces (default 3000)")
    render.add_argument("--size", type=int, default=64, help="image side in pixels (64-224)")
    render.add_argument("--seed", type=int, default=0, help="random seed of the renderer (default 0)")
    render.add_argument("--contact-sheet", type=Path, help="also write a PNG grid of faces")
    render.set_defaults(handler=_cmd_data_render)

    from faceaudit.cli_research import add_research_commands
    from faceaudit.cli_selftest import add_selftest_command
    from faceaudit.cli_stages import add_stage_commands

    add_stage_commands(commands)
    add_selftest_command(commands)
    add_research_commands(commands)
    return parser


# --- handlers ----------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    config = _load_config(args)
    if args.print_config:
        from faceaudit.config import described_yaml

        print(described_yaml(config))
        return EXIT_OK
    from faceaudit.pipeline import run_audit

    command = shlex.join(["faceaudit", *sys.argv[1:]])
    outcome = run_audit(config, progress=_progress(args), command=command)
    if not outcome.wrote:  # a data-parallel process other than rank 0: rank 0 reports
        return EXIT_OK
    gate = outcome.result.gate
    print(f"audit:   {outcome.audit_path}")
    if outcome.report_path:
        print(f"report:  {outcome.report_path}")
    if outcome.junit_path:
        print(f"junit:   {outcome.junit_path}")
    if gate is None:
        print("verdict: INSUFFICIENT EVIDENCE (the gate is disabled in this config)")
        return EXIT_INSUFFICIENT
    from faceaudit.gate import exit_code

    print(f"verdict: {gate.verdict.replace('_', ' ')} - {gate.reason}")
    return exit_code(gate, config.gate.insufficient_blocks)


def _load_any_dataset(path: Path, progress: bool):  # -> Dataset
    from faceaudit.data.config import DatasetConfig
    from faceaudit.data.loaders import load_dataset
    from faceaudit.data.validate import detect_kind

    kind = detect_kind(path)
    if kind not in {"fairface", "manifest"}:
        raise UsageError(
            f"{path}: not a labelled face set (detected: {kind}); summarize reads a FairFace "
            "folder or a manifest; use `faceaudit data validate` for FaceXBench files"
        )
    return load_dataset(DatasetConfig(kind=kind, path=str(path)), progress=progress)


def _cmd_data_summarize(args: argparse.Namespace) -> int:
    dataset = _load_any_dataset(args.path, _progress(args))
    section = dataset.summary()
    if args.json:
        print(section.model_dump_json(indent=2))
        return EXIT_OK
    print(terminal_text(f"{section.name} ({section.kind}): {section.n_records} records"))
    print(f"fingerprint: {section.fingerprint}")
    print(f"sensitive attributes: {', '.join(section.sensitive_attributes)}")
    for attribute, counts in section.counts.items():
        shown = ", ".join(f"{label}: {count}" for label, count in counts.items())
        print(terminal_text(f"  {attribute}: {shown}"))
    for name, cells in section.intersections.items():
        print(f"  {name}: {len(cells)} cells, smallest {min(cells.values(), default=0)}")
    for issue in section.issues:
        print(f"  issue: {issue.kind} x{issue.count}")
    return EXIT_OK


def _cmd_data_validate(args: argparse.Namespace) -> int:
    from faceaudit.data.validate import validate_path

    report = validate_path(args.path, progress=_progress(args))
    print(report.format_text())
    return EXIT_OK if report.ok else EXIT_FAIL


def _cmd_data_render(args: argparse.Namespace) -> int:
    from faceaudit.data.synthetic import SyntheticConfig, contact_sheet, render_synthetic

    try:
        config = SyntheticConfig(n=args.n, image_size=args.size, seed=args.seed)
    except ValueError as error:
        raise UsageError(str(error)) from None
    manifest = render_synthetic(args.out_dir, config, progress=_progress(args))
    print(f"manifest: {manifest}")
    if args.contact_sheet:
        print(f"contact sheet: {contact_sheet(manifest, args.contact_sheet)}")
    return EXIT_OK


# --- entry point ---------------------------------------------------------------


class _VisibleFormatter(logging.Formatter):
    """Log lines quote labels and paths from the user's files: escape sequences are shown, not sent."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_text(super().format(record))


def _configure_logging(quiet: bool, verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_VisibleFormatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("faceaudit")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    if quiet:
        # Libraries that print their own progress bars honour these.
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.quiet, args.verbose)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("faceaudit: interrupted; rerun with the same --run-id to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BaseException as error:  # noqa: BLE001 - the last line of defence for a CLI
        if isinstance(error, SystemExit):
            raise
        return _report_error(error, verbose=args.verbose)


def exit_code_of(error: BaseException) -> int:
    """The exit status of an error: 3 for input the user can fix, 4 for anything else."""
    if isinstance(error, FaceauditError):
        return error.exit_code
    if isinstance(error, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)):
        return EXIT_USAGE  # an input that cannot be read
    return EXIT_RUNTIME  # a ValueError inside a stage may be a bug as easily as a bad row


def _report_error(error: BaseException, *, verbose: bool) -> int:
    code = exit_code_of(error)
    if code == EXIT_USAGE:
        print(f"faceaudit: error: {terminal_text(error)}", file=sys.stderr)
        if verbose:
            traceback.print_exception(error, file=sys.stderr)
        return code
    if verbose:
        traceback.print_exception(error, file=sys.stderr)
    hint = "" if verbose else " (rerun with --verbose for the traceback)"
    print(f"faceaudit: runtime error: {type(error).__name__}: {terminal_text(error)}{hint}", file=sys.stderr)
    return code


def _json_dump(value: object) -> str:
    return json.dumps(value, indent=2, allow_nan=True)


if __name__ == "__main__":
    sys.exit(main())

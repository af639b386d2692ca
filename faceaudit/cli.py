"""The ``faceaudit`` command. Thin: parse, call the library, print, exit.

Exit codes (stable; CI pipelines depend on them):

    0  success; for ``gate`` and ``run``: the verdict is PASS
    1  the verdict is FAIL (``gate``, ``run``), or ``data validate`` found problems
    2  the verdict is INSUFFICIENT EVIDENCE and insufficient evidence blocks
    3  usage error: bad arguments, invalid config or policy, unreadable input
    4  runtime error: a stage failed (the message says which and why)

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from faceaudit import __version__

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_INSUFFICIENT = 2
EXIT_USAGE = 3
EXIT_RUNTIME = 4

log = logging.getLogger("faceaudit")

_EXIT_CODES_HELP = """exit codes:
  0  pass / success
  1  fail (or `data validate` found problems)
  2  insufficient evidence (when it blocks, the default)
  3  usage error: bad arguments, config, policy or input
  4  runtime error in a stage"""


class UsageError(Exception):
    """Bad input from the user: reported in one message, exit code 3."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would exit 2, our INSUFFICIENT code
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, help="YAML config (default: the embedded default)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set dataset.synthetic.n=600 --set train.enabled=false",
    )
    parser.add_argument("--output-dir", type=Path, help="where run directories are created (default: runs)")
    parser.add_argument("--run-id", help="name of the run directory; an existing one is resumed")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="faceaudit",
        description="Fairness and robustness audits for face-understanding multimodal LLMs.",
        epilog=_EXIT_CODES_HELP,
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
    run.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
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
    validate.add_argument("path", type=Path)
    validate.set_defaults(handler=_cmd_data_validate)
    render = data_commands.add_parser("render-synthetic", help="render the synthetic face set")
    render.add_argument("out_dir", type=Path)
    render.add_argument("--n", type=int, default=3000, help="number of faces (default 3000)")
    render.add_argument("--size", type=int, default=64, help="image side in pixels (64-224)")
    render.add_argument("--seed", type=int, default=0)
    render.add_argument("--contact-sheet", type=Path, help="also write a PNG grid of faces")
    render.set_defaults(handler=_cmd_data_render)

    from faceaudit.cli_selftest import add_selftest_command
    from faceaudit.cli_stages import add_stage_commands

    add_stage_commands(commands)
    add_selftest_command(commands)
    return parser


# --- handlers ----------------------------------------------------------------


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet


def _load_config(args: argparse.Namespace):  # -> AuditConfig
    from faceaudit.config import ConfigError, load_config

    overrides = list(args.overrides)
    if getattr(args, "output_dir", None) is not None:
        overrides.append(f"output_dir={args.output_dir}")
    if getattr(args, "run_id", None) is not None:
        overrides.append(f"run_id={args.run_id}")
    try:
        return load_config(args.config, overrides)
    except ConfigError as error:
        raise UsageError(str(error)) from None


def _cmd_run(args: argparse.Namespace) -> int:
    import yaml

    config = _load_config(args)
    if args.print_config:
        print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), end="")
        return EXIT_OK
    from faceaudit.pipeline import run_audit

    command = shlex.join(["faceaudit", *sys.argv[1:]])
    outcome = run_audit(config, progress=_progress(args), command=command)
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
    print(f"{section.name} ({section.kind}): {section.n_records} records")
    print(f"fingerprint: {section.fingerprint}")
    print(f"sensitive attributes: {', '.join(section.sensitive_attributes)}")
    for attribute, counts in section.counts.items():
        shown = ", ".join(f"{label}: {count}" for label, count in counts.items())
        print(f"  {attribute}: {shown}")
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


def _configure_logging(quiet: bool, verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
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
    except UsageError as error:
        print(f"faceaudit: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as error:
        print(f"faceaudit: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as error:
        # Our loaders and validators raise ValueError with messages meant for people.
        print(f"faceaudit: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("faceaudit: interrupted; rerun with the same --run-id to resume", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the last line of defence for a CLI
        log.debug("traceback", exc_info=True)
        print(
            f"faceaudit: runtime error: {type(error).__name__}: {error} (rerun with --verbose "
            "for the traceback)",
            file=sys.stderr,
        )
        return EXIT_RUNTIME


def _json_dump(value: object) -> str:
    return json.dumps(value, indent=2, allow_nan=True)


if __name__ == "__main__":
    sys.exit(main())

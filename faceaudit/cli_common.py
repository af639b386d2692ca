"""What every ``faceaudit`` subcommand shares: the parser class, config options, exit codes.

Kept apart from :mod:`faceaudit.cli` so that the stage subcommands (:mod:`faceaudit.cli_stages`)
and the top-level command import it, not each other.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn

from faceaudit.errors import (
    EXIT_FAIL,
    EXIT_INSUFFICIENT,
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_USAGE,
    InputError,
    exit_codes_help,
)

__all__ = [
    "EXIT_FAIL",
    "EXIT_INSUFFICIENT",
    "EXIT_OK",
    "EXIT_RUNTIME",
    "EXIT_USAGE",
    "Parser",
    "UsageError",
    "add_config_options",
    "load_config_from_args",
    "progress_enabled",
]

#: Bad input from the user: one message, exit code 3 (the package's InputError).
UsageError = InputError

EXIT_CODES_HELP = exit_codes_help()


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would exit 2, our INSUFFICIENT code
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", "-c", type=Path, help="YAML config (default: the embedded default)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set dataset.synthetic.n=600 --set train.enabled=false "
        "(the value is read as YAML)",
    )
    parser.add_argument(
        "--output-dir", type=Path, help="where run directories are created (default: runs)"
    )
    parser.add_argument("--run-id", help="name of the run directory; an existing one is resumed")


def progress_enabled(args: argparse.Namespace) -> bool:
    return not args.quiet


def load_config_from_args(
    args: argparse.Namespace, values: dict[str, Any] | None = None
):  # -> AuditConfig
    """The config of ``--config``, then the flags (``values``, kept as typed), then ``--set``.

    Flags are passed as values, never re-read as YAML: ``--run-id 2024-06-01`` stays a string.
    """
    from faceaudit.config import load_config

    flags = dict(values or {})
    if getattr(args, "output_dir", None) is not None:
        flags["output_dir"] = str(args.output_dir)
    if getattr(args, "run_id", None) is not None:
        flags["run_id"] = args.run_id
    return load_config(args.config, list(args.overrides), flags)

"""``faceaudit selftest``: measure the release decision's own error rates by simulation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from faceaudit.store import atomic_write_text


def add_selftest_command(commands: argparse._SubParsersAction) -> None:
    selftest = commands.add_parser(
        "selftest",
        help="measure the gate's false-FAIL rate, power and interval coverage by simulation",
        description="Monte-Carlo runs of evaluation -> gate with the default settings and policy on "
        "simulated models with known per-group accuracy (7x30, 7x300, FairFace-validation size; fair "
        "models, one harmed group, one harmed intersection, a model against itself). Prints the rates "
        "with their Monte-Carlo intervals; exits 1 when a promise of the default policy does not hold.",
    )
    selftest.add_argument("--seeds", type=int, default=200, help="simulated audits per scenario (default 200)")
    selftest.add_argument(
        "--scenario", action="append", default=[], metavar="NAME",
        help="run only this scenario (repeatable); default: all",
    )
    selftest.add_argument("--write", type=Path, metavar="FILE", help="also write the Markdown table to FILE")
    selftest.set_defaults(handler=_cmd_selftest)


def _cmd_selftest(args: argparse.Namespace) -> int:
    from faceaudit.selftest import default_scenarios, run_selftest, summary_ok, to_markdown

    if args.seeds < 1:
        raise ValueError("--seeds must be at least 1")
    scenarios = default_scenarios()
    known = {s.name for s in scenarios}
    unknown = sorted(set(args.scenario) - known)
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; scenarios are {sorted(known)}")
    chosen = [s for s in scenarios if not args.scenario or s.name in args.scenario]
    results, calibration = run_selftest(args.seeds, scenarios=chosen, progress=not args.quiet)
    command = "faceaudit selftest --seeds {}{}".format(
        args.seeds, "".join(f" --scenario {s}" for s in args.scenario))
    table = to_markdown(results, calibration, seeds=args.seeds, command=command)
    print(table)
    if args.write:
        atomic_write_text(args.write, table)
    problems = summary_ok(results)
    for problem in problems:
        print(f"faceaudit selftest: {problem}", file=sys.stderr)
    return 1 if problems else 0

"""Prints how many cases each fuzz property ran (counted in fuzz_support.CASES)."""

from __future__ import annotations

from fuzz_support import CASES


def pytest_terminal_summary(terminalreporter) -> None:
    if CASES:
        terminalreporter.write_sep("-", "fuzz cases run per property")
        for name, count in sorted(CASES.items()):
            terminalreporter.write_line(f"{name}: {count}")

"""Exit status of a verdict. The codes themselves are the one table in :mod:`faceaudit.errors`.

    0  EXIT_PASS          every blocking check passed (or insufficient evidence does not block)
    1  EXIT_FAIL          at least one blocking check failed: do not release
    2  EXIT_INSUFFICIENT  no blocking check failed, but some could not be decided and
                          insufficient evidence blocks (the default)
    3  EXIT_USAGE         bad arguments, unreadable audit.json or policy
    4  EXIT_RUNTIME       an error while judging (rerun with --verbose for the traceback)
"""

from __future__ import annotations

from faceaudit.errors import EXIT_FAIL, EXIT_INSUFFICIENT, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE
from faceaudit.schema.gate import GateSection

EXIT_PASS = EXIT_OK

__all__ = ["EXIT_FAIL", "EXIT_INSUFFICIENT", "EXIT_PASS", "EXIT_RUNTIME", "EXIT_USAGE", "exit_code"]


def exit_code(gate: GateSection, insufficient_blocks: bool = True) -> int:
    """The process exit status for a verdict."""
    if gate.verdict == "FAIL":
        return EXIT_FAIL
    if gate.verdict == "INSUFFICIENT_EVIDENCE":
        return EXIT_INSUFFICIENT if insufficient_blocks else EXIT_PASS
    return EXIT_PASS

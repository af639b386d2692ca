"""Exit codes of ``faceaudit gate`` (and of ``faceaudit run``), stable for CI scripts.

    0  EXIT_PASS          every blocking check passed (or insufficient evidence does not block)
    1  EXIT_FAIL          at least one blocking check failed: do not release
    2  EXIT_INSUFFICIENT  no blocking check failed, but some could not be decided and
                          insufficient evidence blocks (the default)
    3  EXIT_ERROR         usage or runtime error: bad arguments, unreadable audit.json or policy
"""

from __future__ import annotations

from faceaudit.schema.gate import GateSection

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_INSUFFICIENT = 2
EXIT_ERROR = 3


def exit_code(gate: GateSection, insufficient_blocks: bool = True) -> int:
    """The process exit status for a verdict."""
    if gate.verdict == "FAIL":
        return EXIT_FAIL
    if gate.verdict == "INSUFFICIENT_EVIDENCE":
        return EXIT_INSUFFICIENT if insufficient_blocks else EXIT_PASS
    return EXIT_PASS

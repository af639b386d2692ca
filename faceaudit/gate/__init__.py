"""faceaudit.gate: release policy, verdict, exit codes, JUnit XML and Markdown summary."""

from faceaudit.gate.exit_codes import (
    EXIT_FAIL,
    EXIT_INSUFFICIENT,
    EXIT_PASS,
    EXIT_RUNTIME,
    EXIT_USAGE,
    exit_code,
)
from faceaudit.gate.junit import junit_xml, write_junit
from faceaudit.gate.markdown import markdown_summary
from faceaudit.gate.paths import PathError, resolve
from faceaudit.gate.policy import Check, Policy, PolicyError, load_policy, parse_policy
from faceaudit.gate.verdict import evaluate_gate, not_tested

__all__ = [
    "EXIT_FAIL",
    "EXIT_INSUFFICIENT",
    "EXIT_PASS",
    "EXIT_RUNTIME",
    "EXIT_USAGE",
    "Check",
    "PathError",
    "Policy",
    "PolicyError",
    "evaluate_gate",
    "exit_code",
    "junit_xml",
    "load_policy",
    "markdown_summary",
    "not_tested",
    "parse_policy",
    "resolve",
    "write_junit",
]

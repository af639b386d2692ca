"""JUnit XML for CI pages: one test case per policy check.

A test case fails exactly when its check stops the release (a blocking FAIL, or a
blocking INSUFFICIENT_EVIDENCE while insufficient evidence blocks), so the CI page
agrees with the exit code. Warnings and non-blocking verdicts pass with their
reason in system-out; checks whose stage did not run are skipped.

Reasons name groups by their labels, which come from the user's data: every string goes
through :func:`faceaudit.textsafe.xml_text`, because ElementTree escapes ``<`` and ``&`` but
writes control characters raw (invalid XML 1.0 that CI parsers reject) and cannot encode
a lone surrogate at all.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from faceaudit.gate.verdict import fmt
from faceaudit.schema.gate import CheckResult, GateSection
from faceaudit.store import atomic_write_bytes
from faceaudit.textsafe import xml_text


def _blocks(check: CheckResult, insufficient_blocks: bool) -> bool:
    if check.severity != "blocking":
        return False
    return check.verdict == "FAIL" or (
        check.verdict == "INSUFFICIENT_EVIDENCE" and insufficient_blocks
    )


def _details(check: CheckResult) -> str:
    lines = [
        f"verdict: {check.verdict} ({check.severity})",
        f"reason: {check.reason}",
        f"path: {check.path}",
        f"rule: {check.operator.replace('_', ' ')} {fmt(check.limit)}, comparing the "
        f"{check.side} end of the 95% interval; minimum n {check.min_n}",
    ]
    if check.value is not None:
        lines.append(
            f"worst value: {fmt(check.value)} [{fmt(check.lower)}, {fmt(check.upper)}] "
            f"n={check.n if check.n is not None else 'n/a'} at {check.worst_path}"
        )
    for target in check.targets:
        if target.verdict != "PASS":
            lines.append(f"  {target.verdict}: {target.reason}")
    return "\n".join(lines)


def junit_xml(gate: GateSection) -> bytes:
    cases = []
    failures = skipped = 0
    for check in gate.checks:
        case = ET.Element(
            "testcase",
            {"classname": f"faceaudit.gate.{check.severity}", "name": check.id, "time": "0"},
        )
        if _blocks(check, gate.insufficient_blocks):
            failures += 1
            failure = ET.SubElement(
                case, "failure", {"type": check.verdict, "message": check.reason}
            )
            failure.text = _details(check)
        elif check.verdict == "SKIPPED":
            skipped += 1
            ET.SubElement(case, "skipped", {"message": check.reason})
        else:
            ET.SubElement(case, "system-out").text = _details(check)
        cases.append(case)
    suite = ET.Element(
        "testsuite",
        {
            "name": f"faceaudit gate ({gate.policy_name} {gate.policy_version})",
            "tests": str(len(cases)),
            "failures": str(failures),
            "errors": "0",
            "skipped": str(skipped),
            "timestamp": gate.evaluated_at,
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", gate.verdict),
        ("reason", gate.reason),
        ("policy_sha256", gate.policy_sha256),
        ("insufficient_blocks", str(gate.insufficient_blocks).lower()),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    suite.extend(cases)
    root = ET.Element("testsuites", {"name": "faceaudit", "tests": str(len(cases)),
                                     "failures": str(failures), "skipped": str(skipped)})
    root.append(suite)
    _make_valid(root)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _make_valid(element: ET.Element) -> None:
    """Every text and attribute value of the tree, made representable in XML 1.0."""
    for node in element.iter():
        node.attrib = {key: xml_text(value) for key, value in node.attrib.items()}
        if node.text is not None:
            node.text = xml_text(node.text)


def write_junit(gate: GateSection, path: str | Path) -> Path:
    """Write the JUnit XML atomically; returns the path."""
    return atomic_write_bytes(path, junit_xml(gate) + b"\n")

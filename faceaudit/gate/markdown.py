"""A Markdown summary of the verdict for CI pages (GitHub job summary, merge-request notes).

Reasons, policy names and untested items carry labels from the user's data: each goes
through :func:`faceaudit.textsafe.markdown_text`, so a carriage return cannot start a second
heading, HTML in a label is shown, not rendered, by the CI page, and a label such as
``@team``, ``#12`` or ``http://…`` neither pings anyone, nor links an issue, nor becomes a link.
"""

from __future__ import annotations

from faceaudit.gate.verdict import fmt
from faceaudit.schema.gate import CheckResult, GateSection
from faceaudit.textsafe import markdown_code, markdown_text

_LABEL = {
    "PASS": "PASS",
    "FAIL": "FAIL",
    "INSUFFICIENT_EVIDENCE": "INSUFFICIENT EVIDENCE",
    "SKIPPED": "skipped",
}


def _cell(text: str) -> str:
    # One line, markup escaped: a pipe, a line break or HTML inside a cell would break the table.
    return markdown_text(text)


def _id(text: str) -> str:
    # Policy ids match [A-Za-z0-9][A-Za-z0-9_.-]* (policy.py), safe inside backticks; anything
    # else (a hand-built GateSection) is shown as escaped inline code.
    return f"`{text}`" if text.replace("_", "").replace(".", "").replace("-", "").isalnum() else markdown_code(text)


def _value(check: CheckResult) -> str:
    if check.value is None:
        return "—"
    text = fmt(check.value)
    if check.lower is not None and check.upper is not None and check.lower != check.upper:
        text += f" [{fmt(check.lower)}, {fmt(check.upper)}]"
    return text


def markdown_summary(gate: GateSection) -> str:
    order = {"FAIL": 0, "INSUFFICIENT_EVIDENCE": 1, "PASS": 2, "SKIPPED": 3}
    checks = sorted(
        gate.checks, key=lambda c: (c.severity != "blocking", order[c.verdict], c.id)
    )
    blocking = "blocks the release" if gate.blocks_release else "does not block the release"
    lines = [
        f"## faceaudit gate: {_LABEL[gate.verdict]}",
        "",
        f"{_cell(gate.reason)} This verdict {blocking}.",
        "",
        f"Policy **{_cell(gate.policy_name)}** version {_cell(gate.policy_version)} "
        f"(sha256 `{gate.policy_sha256[:12]}`); insufficient evidence "
        f"{'blocks' if gate.insufficient_blocks else 'does not block'}.",
        "",
        "| check | severity | verdict | worst value [95% CI] | n | rule | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in checks:
        end = "point estimate" if c.side == "value" else f"{c.side} end"
        rule = f"{end} {'≥' if c.operator == 'at_least' else '≤'} {fmt(c.limit)}"
        if c.against_baseline:
            rule = "change vs baseline: " + rule
        n = str(c.n) if c.n is not None else "—"
        lines.append(
            f"| {_id(c.id)} | {c.severity} | **{_LABEL[c.verdict]}** | {_value(c)} | {n} | "
            f"{_cell(rule)} | {_cell(c.reason)} |"
        )
    if gate.not_tested:
        lines += ["", "Not tested in this audit:", ""]
        lines += [f"- {_cell(item)}" for item in gate.not_tested]
    return "\n".join(lines) + "\n"

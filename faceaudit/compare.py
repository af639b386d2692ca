"""``faceaudit compare A/audit.json B/audit.json``: who got better and who got worse, paired.

Both audits store each task's per-item correctness (:mod:`faceaudit.evaluate.outcomes`). When
they asked exactly the same items, every group's change from A to B is paired item by item:
Newcombe's paired interval (method 10) and an exact McNemar test, the same statistics the gate's
baseline check uses. A group "got worse" (or "better") only when its McNemar p-value stays below
``alpha`` after one Holm correction over every group of every paired task; any other group is
"no clear change", with its interval. Tasks whose items differ between the audits are listed as
not compared (their intervals would not be paired) and never silently mixed in.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from faceaudit.errors import InputError
from faceaudit.evaluate.outcomes import paired_group_change
from faceaudit.schema import AuditResult
from faceaudit.schema.common import Estimate
from faceaudit.schema.comparison import Comparison, Direction, GroupChange
from faceaudit.stats.significance import adjust_pvalues
from faceaudit.store import atomic_write_text

__all__ = ["Comparison", "GroupChange", "compare_audits", "render_comparison_html", "to_markdown"]


def _group_accuracy(task, attributes: list[str], labels: list[str]) -> float:
    if not attributes:
        return task.overall["accuracy"].value
    group = next((g for g in task.groups if g.attributes == attributes and g.labels == labels), None)
    return group.metrics["accuracy"].value if group is not None else math.nan


def compare_audits(
    a: AuditResult, b: AuditResult, *, a_name: str = "A", b_name: str = "B",
    confidence: float = 0.95, alpha: float = 0.05,
) -> Comparison:
    """B against A, group by group, on the items both asked."""
    if a.evaluation is None or b.evaluation is None:
        missing = a_name if a.evaluation is None else b_name
        raise InputError(f"{missing} has no evaluation section: nothing to compare")
    ea, eb = a.evaluation, b.evaluation
    if ea.sensitive_attributes != eb.sensitive_attributes:
        raise InputError(
            f"the audits stratify by different attributes ({ea.sensitive_attributes} in {a_name}, "
            f"{eb.sensitive_attributes} in {b_name}); their groups cannot be paired"
        )
    attributes = ea.sensitive_attributes
    by_task = {t.task: t for t in ea.tasks}
    pending: list[tuple[str, str, list[str], list[str], float, float, Estimate]] = []
    not_compared = []
    for tb in eb.tasks:
        ta = by_task.get(tb.task)
        if ta is None:
            not_compared.append(f"{tb.task}: only in {b_name}")
            continue
        if ta.outcomes is None or tb.outcomes is None:
            not_compared.append(f"{tb.task}: an audit stored no per-item outcomes (audit made before schema 2)")
            continue
        if ta.outcomes.items_sha256 != tb.outcomes.items_sha256:
            not_compared.append(f"{tb.task}: the audits asked different items "
                                f"({ta.outcomes.n} in {a_name}, {tb.outcomes.n} in {b_name}); a paired comparison needs the same items")
            continue
        targets = [([], [], "all items")] + [(g.attributes, g.labels, g.name) for g in tb.groups]
        for attrs, labels, name in targets:
            change = paired_group_change(tb, ta, attributes, attrs, labels, confidence)
            if change is None:
                continue
            pending.append((tb.task, name, attrs, labels, _group_accuracy(ta, attrs, labels),
                            _group_accuracy(tb, attrs, labels), change))
    not_compared.extend(f"{t}: only in {a_name}" for t in by_task if t not in {x.task for x in eb.tasks})
    p_values = np.array([c[-1].p_value if c[-1].p_value is not None else math.nan for c in pending])
    adjusted, reject = adjust_pvalues(p_values, "holm", alpha) if pending else (np.array([]), np.array([]))
    changes = []
    for (task, name, attrs, labels, acc_a, acc_b, change), p_adj, rejected in zip(pending, adjusted, reject, strict=True):
        direction: Direction = "no clear change"
        if rejected and change.value != 0:
            direction = "better" if change.value > 0 else "worse"
        changes.append(GroupChange(task=task, group=name, attributes=attrs, labels=labels, n=change.n,
                                   accuracy_a=acc_a, accuracy_b=acc_b, change=change,
                                   p_adjusted=float(p_adj), direction=direction))
    return Comparison(a=a_name, b=b_name, model_a=ea.model, model_b=eb.model, confidence=confidence,
                      alpha=alpha, n_tests=int(np.sum(~np.isnan(p_values))), changes=changes,
                      not_compared=not_compared)


def to_markdown(c: Comparison) -> str:
    """A summary for a pull request: the headline, then every compared group."""
    level = int(round(c.confidence * 100))
    out = [f"### faceaudit compare: {c.model_b} ({c.b}) against {c.model_a} ({c.a})", ""]
    out += [f"- {line}" for line in c.headline()]
    out += ["", f"Paired on the same items: change in accuracy (B - A, percentage points) with its {level}% "
            f"Newcombe paired interval; McNemar p-values Holm-corrected over {c.n_tests} tests at alpha {c.alpha}.", ""]
    out += ["| task | group | n | A | B | change | interval | p (Holm) | |", "|---|---|---|---|---|---|---|---|---|"]
    for g in c.changes:
        mark = {"better": "better", "worse": "**worse**", "no clear change": ""}[g.direction]
        row = g.shown()
        out.append(f"| {g.task} | {g.group} | {g.n} | {row['a']} | {row['b']} | {row['change']} | "
                   f"{row['interval']} | {row['p']} | {mark} |")
    return "\n".join(out) + "\n"


def render_comparison_html(c: Comparison, out_path: str | Path) -> Path:
    """A self-contained page with the comparison section (``reports/templates/compare.html.j2``)."""
    from importlib import resources

    from faceaudit.report.render import _environment

    env = _environment()
    css = resources.files("faceaudit.report.templates").joinpath("report.css").read_text("utf-8")
    html = env.get_template("compare_page.html.j2").render(comparison=c, css=css)
    return atomic_write_text(out_path, html)

"""Pictures of the result: page one's worst-groups charts, confusion matrices, reliability diagrams.

Drawn from the stored evaluation and gate sections only. A limit line is drawn only where
the gate judged the plotted comparisons against one limit; without a stored verdict the
chart says that no policy was applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from faceaudit.report import charts
from faceaudit.report.findings import _group_words, applied_limit
from faceaudit.schema import AuditResult
from faceaudit.schema.evaluation import CalibrationBins, TaskMetrics

#: Rows of a worst-groups chart.
WORST_K = 8
_MARK = {"FAIL": "✖", "INSUFFICIENT_EVIDENCE": "?", "PASS": "✔"}


@dataclass
class TaskChart:
    task: str
    chart: charts.Chart
    limit: float | None
    check_ids: list[str]


def _judged(result: AuditResult) -> dict[str, tuple[Any, Any]]:
    """Target path -> (check, target) for every gate target with a value."""
    out: dict[str, tuple[Any, Any]] = {}
    if result.gate is None:
        return out
    for check in result.gate.checks:
        for target in check.targets:
            out.setdefault(target.path, (check, target))
    return out


def _disparity_label(task: str, d: Any) -> str:
    # The gate's list-item label of a disparity (faceaudit.gate.paths._item_label).
    return f"{d.metric}:{' x '.join(d.attributes)}:{d.kind}:{d.group}"


def worst_group_charts(result: AuditResult, k: int = WORST_K) -> list[TaskChart]:
    """Per task, the k group-vs-rest accuracy comparisons with the lowest estimates among groups
    of at least the minimum size, plus every one the gate failed, with their limit."""
    ev = result.evaluation
    if ev is None:
        return []
    judged = _judged(result)
    out = []
    for task in ev.tasks:
        rows = [d for d in task.disparities if d.kind == "group_vs_rest" and d.metric == "accuracy"
                and not math.isnan(d.estimate.value)]
        if not rows:
            continue
        paths = {id(d): f"evaluation.tasks[{task.task}].disparities[{_disparity_label(task.task, d)}].estimate"
                 for d in rows}
        failed = [d for d in rows if judged.get(paths[id(d)], (None, None))[1] is not None
                  and judged[paths[id(d)]][1].verdict == "FAIL"]
        sized = sorted((d for d in rows if not d.small_group), key=lambda d: d.estimate.value)
        chosen = sized[:k]
        chosen += [d for d in sorted(failed, key=lambda d: d.estimate.value) if d not in chosen][: max(0, k + 2 - len(chosen))]
        chosen.sort(key=lambda d: d.estimate.value)
        checks = [judged[paths[id(d)]][0] for d in chosen if paths[id(d)] in judged]
        # a chance-corrected check stores each target's own limit
        limits = {plotted_limit(c, t)
                  for c, t in (judged[paths[id(d)]] for d in chosen if paths[id(d)] in judged)}
        limit = limits.pop() if len(limits) == 1 and len(checks) == len(chosen) else None
        plot_rows = []
        for d in chosen:
            verdict = judged.get(paths[id(d)], (None, None))[1]
            mark = f" {_MARK.get(verdict.verdict, '')}" if verdict is not None else ""
            plot_rows.append(charts.Row(f"{_group_words(d.group)}{mark}", 100 * d.estimate.value,
                                        100 * d.estimate.lower, 100 * d.estimate.upper, d.estimate.n))
        title = f"When asked {_question(task.task)}: worst groups against everyone else"
        confidence = chosen[0].estimate.confidence
        note = charts.limit_note(limit, bool(checks), drawn="")
        chart = charts.interval_chart(
            plot_rows, title=title, confidence=confidence,
            xlabel=f"group's accuracy minus everyone else's, points ({charts.level(confidence)} interval){note}",
            limit=None if limit is None else 100 * limit,
        )
        out.append(TaskChart(task.task, chart, limit, sorted({c.id for c in checks})))
    return out


def _question(task: str) -> str:
    from faceaudit.report.findings import task_in_words

    return task_in_words(task)


@dataclass
class Confusion:
    group: str
    accuracy: float
    n: int
    labels: list[str]
    predicted: list[str]
    rows: list[list[tuple[int, float]]]  # (count, share of the row)


def worst_confusions(task: TaskMetrics, k: int = 3) -> list[Confusion]:
    """Confusion matrices of the k least accurate single-attribute groups that are not small."""
    groups = [g for g in task.groups if len(g.attributes) == 1 and not g.small_group
              and "accuracy" in g.metrics and not math.isnan(g.metrics["accuracy"].value)]
    groups.sort(key=lambda g: g.metrics["accuracy"].value)
    out = []
    for g in groups[:k]:
        rows = []
        for counts in g.confusion.counts:
            total = sum(counts)
            rows.append([(c, c / total if total else math.nan) for c in counts])
        out.append(Confusion(g.name, g.metrics["accuracy"].value, g.n_items, g.confusion.labels,
                             g.confusion.predicted_labels, rows))
    return out


@dataclass
class Calibration:
    """A task's reliability diagram, or the sentence that says why there is none."""

    chart: charts.Chart | None
    groups: list[str]
    why_not: str | None = None
    n_bins: int = 0


def _panel(label: str, ece: float, bins: CalibrationBins) -> charts.Reliability:
    return charts.Reliability(label, ece, bins.counts, bins.mean_confidence, bins.accuracy)


def worst_calibrations(task: TaskMetrics, mode: str, k: int = 3) -> Calibration:
    """Reliability diagram of the k single-attribute groups (not small) with the largest ECE, the
    task's items together drawn behind them; without bins, a sentence saying why."""
    if task.calibration is None:
        ece = task.overall.get("ece")
        if ece is None:
            return Calibration(None, [], "No reliability diagram: audit.json holds no calibration "
                               "measurement for this task.")
        if not math.isnan(ece.value):
            return Calibration(None, [], "No reliability diagram: this audit.json stores the calibration error "
                               "(ECE) but not the per-bin confidence and accuracy a diagram needs (it was "
                               "written by an earlier faceaudit; evaluate again to get them).")
        return Calibration(None, [], f"No reliability diagram: none of the answers to this task came with option "
                           f"probabilities ({mode} mode), so the model's confidence, and with it calibration, "
                           "could not be measured.")
    groups = [g for g in task.groups if len(g.attributes) == 1 and not g.small_group and g.calibration is not None
              and "ece" in g.metrics and not math.isnan(g.metrics["ece"].value)]
    groups.sort(key=lambda g: -g.metrics["ece"].value)
    chosen = groups[:k]
    reference = _panel("all items", task.overall["ece"].value if "ece" in task.overall else math.nan,
                       task.calibration)
    panels = [_panel(_group_words(g.name), g.metrics["ece"].value, g.calibration) for g in chosen] or [reference]
    title = (f"When asked {_question(task.task)}: the {len(chosen)} worst-calibrated group(s)" if chosen
             else f"When asked {_question(task.task)}: all items")
    chart = charts.reliability_diagram(panels, title=title, reference=reference if chosen else None)
    return Calibration(chart, [g.name for g in chosen], n_bins=len(task.calibration.counts))


def shared_limit(gate: Any, paths: list[str]) -> tuple[float | None, bool]:
    """The one limit the gate applied to every one of ``paths`` (None when one of them was not
    judged or the limits differ: a chance-corrected limit differs per task, two checks may
    judge one value), and whether any of them was judged at all. Checks against a baseline
    judge a change, not the plotted value: left out."""
    if gate is None or not paths:
        return None, False
    wanted = set(paths)
    judged: set[str] = set()
    limits: set[float | None] = set()
    for check in gate.checks:
        if check.against_baseline:
            continue
        for target in check.targets:
            if target.path in wanted:
                judged.add(target.path)
                limits.add(plotted_limit(check, target))
    return (limits.pop() if judged == wanted and len(limits) == 1 else None), bool(judged)


def plotted_limit(check: Any, target: Any) -> float | None:
    """The limit on the scale of the judged value itself; None for a chance-corrected check whose
    target stores no limit of its own (its limit is on another scale than the plotted value)."""
    if check.limit_scale == "chance_corrected" and target.limit is None:
        return None
    return applied_limit(check, target)

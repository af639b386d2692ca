"""The auditor audited: Monte-Carlo error rates of the release decision.

Each scenario simulates a model's answers with known per-group accuracy
(:func:`faceaudit.stats.simulate_predictions`), runs them through the same code users run
(:func:`faceaudit.evaluate.metrics.build_evaluation_section` with the default evaluation
settings, then :func:`faceaudit.gate.evaluate_gate` with the default policy) and counts
verdicts over seeds. What it measures, each with a Wilson interval for its Monte-Carlo error:

* **false FAIL**: how often a fair model (every group equally accurate) FAILs a blocking check;
* **power**: how often a planted harm FAILs, naming the harmed group;
* **PASS rate** of a fair model (a gate that never passes is switched off);
* **coverage** of the intervals the gate judges (group vs rest, max - min, error ratio);
* **detectable harm**: the harm the gate reports it can detect with 80% power, next to the
  power measured when exactly that harm is planted.

``faceaudit selftest`` prints the table; ``--write docs/selftest.md`` regenerates the
committed copy. The blocking decisions use no resampling (Newcombe and Wilson intervals),
so the selftest runs the bootstrap (used only by macro-F1 and ECE rows) with few draws:
the verdicts are identical to the default ``n_boot``, which a test checks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from faceaudit.evaluate.config import EvaluateConfig
from faceaudit.evaluate.metrics import build_evaluation_section
from faceaudit.gate import evaluate_gate, load_policy
from faceaudit.gate.policy import Policy
from faceaudit.schema import AuditResult, ProvenanceSection, RunSection
from faceaudit.stats.proportions import wilson_interval
from faceaudit.stats.simulate import simulate_predictions

# FairFace validation split: 10,954 images (Kärkkäinen & Joo 2021, published label CSV).
FAIRFACE_VAL_RACE = {"White": 2085, "Latino_Hispanic": 1623, "Black": 1556, "East Asian": 1550,
                     "Indian": 1516, "Southeast Asian": 1415, "Middle Eastern": 1209}
FAIRFACE_VAL_GENDER = {"Male": 5792, "Female": 5162}
FAIRFACE_VAL_AGE = {"0-2": 199, "3-9": 1356, "10-19": 1181, "20-29": 3300, "30-39": 2330,
                    "40-49": 1353, "50-59": 796, "60-69": 321, "more than 70": 118}
SEVEN = [f"g{i}" for i in range(1, 8)]


def fairface_validation_cells() -> dict[tuple[str, str, str], int]:
    """race x gender x age cell sizes from the product of FairFace validation's marginals
    (10,952 items in 126 cells, median 79): the size users audit at."""
    total = sum(FAIRFACE_VAL_RACE.values())
    return {
        (r, g, a): round(total * (nr / total) * (ng / total) * (na / total))
        for (r, nr), (g, ng), (a, na) in itertools.product(
            FAIRFACE_VAL_RACE.items(), FAIRFACE_VAL_GENDER.items(), FAIRFACE_VAL_AGE.items())
    }


@dataclass(frozen=True)
class Scenario:
    """One simulated audit: a grid of groups, cell sizes, tasks and planted accuracy."""

    name: str
    description: str
    groups: dict[str, list[str]]
    sizes: int | dict[tuple[str, ...], int]
    accuracy: float = 0.8
    gaps: dict[str, dict[str, float]] = field(default_factory=dict)
    cell_gaps: dict[tuple[str, ...], float] = field(default_factory=dict)
    tasks: tuple[str, ...] = ("task",)
    harmed: str | None = None  # the group name a FAIL must name (e.g. "race=g7")
    baseline_self: bool = False  # judge the audit against itself as the baseline

    @property
    def fair(self) -> bool:
        return not self.gaps and not self.cell_gaps


def default_scenarios() -> list[Scenario]:
    fairface = {"race": list(FAIRFACE_VAL_RACE), "gender": list(FAIRFACE_VAL_GENDER),
                "age": list(FAIRFACE_VAL_AGE)}
    cells = fairface_validation_cells()
    small = {(g,): 300 for g in SEVEN[:6]} | {("g7",): 29}
    return [
        Scenario("null-7x30", "7 groups x 30 items, all at 0.80", {"race": SEVEN}, 30),
        Scenario("null-7x300", "7 groups x 300 items, all at 0.80", {"race": SEVEN}, 300),
        Scenario("null-fairface-val", "FairFace validation size: race x gender x age (10,952 images), "
                 "questions on age, gender and race, all at 0.80", fairface, cells,
                 tasks=("age", "gender", "race")),
        Scenario("harm-10pt-7x300", "7 x 300, one group 10 points below the others", {"race": SEVEN}, 300,
                 gaps={"race": {"g7": -0.10}}, harmed="race=g7"),
        Scenario("harm-small-group", "six groups of 300 at 0.94, one group of 29 at 0.10", {"race": SEVEN},
                 small, accuracy=0.94, gaps={"race": {"g7": -0.84}}, harmed="race=g7"),
        Scenario("null-small-group", "six groups of 300 and one of 29, all at 0.80", {"race": SEVEN}, small),
        Scenario("harm-one-intersection", "FairFace size, only Black women aged 20-29 (about 100 images) "
                 "30 points below", fairface, cells, cell_gaps={("Black", "Female", "20-29"): -0.30},
                 tasks=("race",), harmed="race=Black & gender=Female & age=20-29"),
        Scenario("baseline-self-7x300", "7 x 300 judged against itself as the baseline", {"race": SEVEN}, 300,
                 baseline_self=True),
    ]


def _stats_settings(n_boot: int) -> dict[str, Any]:
    defaults = EvaluateConfig()
    return {"n_boot": n_boot, "confidence": defaults.confidence, "min_group_n": defaults.min_group_n,
            "correction": defaults.correction, "intersections": defaults.intersections,
            "reference": defaults.reference_group}


def simulate_audit(scenario: Scenario, seed: int, *, n_boot: int = 100) -> tuple[AuditResult, pd.DataFrame]:
    """One simulated audit of ``scenario`` (and the predictions behind it)."""
    frames = [
        simulate_predictions(scenario.groups, scenario.sizes, accuracy=scenario.accuracy, gaps=scenario.gaps,
                             cell_gaps=scenario.cell_gaps, task=task, seed=seed * 1000 + t)
        for t, task in enumerate(scenario.tasks)
    ]
    predictions = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    section = build_evaluation_section(
        predictions, model=f"simulated:{scenario.name}", mode="scoring",
        sensitive_attributes=list(scenario.groups), seed=seed, **_stats_settings(n_boot),
    )
    result = AuditResult(
        run=RunSection(run_id=f"selftest-{scenario.name}-{seed}", started_at="", faceaudit_version="",
                       python_version="", platform="", library_versions={}, seed=seed, config={}),
        provenance=ProvenanceSection(config_sha256=""),
        evaluation=section,
    )
    return result, predictions


@dataclass
class Rate:
    """A Monte-Carlo proportion with its 95% Wilson interval."""

    hits: int
    n: int

    @property
    def value(self) -> float:
        return self.hits / self.n if self.n else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        lo, hi = wilson_interval(self.hits, self.n)
        return float(lo), float(hi)

    def __str__(self) -> str:
        if not self.n:
            return "n/a"
        lo, hi = self.interval
        return f"{100 * self.value:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


@dataclass
class ScenarioResult:
    scenario: Scenario
    seeds: int
    verdicts: dict[str, int]
    check_fail: dict[str, Rate]  # blocking check id -> FAIL rate
    check_pass: dict[str, Rate]  # blocking check id -> PASS rate
    named: Rate | None  # planted harm: FAIL naming the harmed group
    coverage: dict[str, Rate]  # disparity kind -> coverage of the true value
    detectable: float | None  # mean printed detectable harm of the harmed group (or of all groups)

    def rate(self, verdict: str) -> Rate:
        return Rate(self.verdicts.get(verdict, 0), self.seeds)


def _truth(scenario: Scenario, predictions: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """True accuracy of every group of every attribute set, per task, from the planted values."""
    names = list(scenario.groups)
    p = np.full(len(predictions), scenario.accuracy, float)
    for attribute, gaps in scenario.gaps.items():
        p += predictions[attribute].map(gaps).fillna(0.0).to_numpy(float)
    if scenario.cell_gaps:
        keys = list(zip(*(predictions[a] for a in names), strict=True))
        p += np.array([scenario.cell_gaps.get(k, 0.0) for k in keys])
    frame = predictions[["task", *names]].assign(p=np.clip(p, 0, 1))
    truth: dict[tuple[str, str, str], float] = {}
    for size in range(1, len(names) + 1):
        for attrs in itertools.combinations(names, size):
            for (task, *labels), value in frame.groupby(["task", *attrs])["p"].mean().items():
                name = " & ".join(f"{a}={v}" for a, v in zip(attrs, labels, strict=True))
                truth[(task, " x ".join(attrs), name)] = float(value)
    return truth


def _covered(result: AuditResult, truth: dict[tuple[str, str, str], float], scenario: Scenario,
             counts: dict[str, list[int]]) -> None:
    """Count, per disparity kind of accuracy, how often the interval holds the true value."""
    assert result.evaluation is not None
    for task in result.evaluation.tasks:
        sizes = {g.name: g.n_items for g in task.groups}
        for d in task.disparities:
            if d.metric != "accuracy" or d.intersection or not d.estimate.is_defined:
                continue
            key = " x ".join(d.attributes)
            group_truth = {name: v for (t, k, name), v in truth.items() if t == task.task and k == key}
            if d.kind == "group_vs_rest":
                total = sum(sizes[g] for g in group_truth)
                rest = sum(group_truth[g] * sizes[g] for g in group_truth if g != d.group)
                true = group_truth[d.group] - rest / (total - sizes[d.group])
            elif d.kind == "difference":
                eligible = [g for g in group_truth if sizes[g] >= result.evaluation.min_group_n]
                true = max(group_truth[g] for g in eligible) - min(group_truth[g] for g in eligible)
            else:
                true = (1 - group_truth[d.group]) / (1 - group_truth[d.reference_group])
            hit = d.estimate.lower - 1e-12 <= true <= d.estimate.upper + 1e-12
            counts.setdefault(d.kind, [0, 0])
            counts[d.kind][0] += int(hit)
            counts[d.kind][1] += 1


def run_scenario(scenario: Scenario, seeds: int, *, policy: Policy | None = None, n_boot: int = 100,
                 progress: Callable[[int], None] | None = None) -> ScenarioResult:
    policy = policy or load_policy()
    blocking = [c.id for c in policy.checks if c.severity == "blocking"]
    verdicts: dict[str, int] = {}
    fails = dict.fromkeys(blocking, 0)
    passes = dict.fromkeys(blocking, 0)
    named = 0
    cover: dict[str, list[int]] = {}
    detectable: list[float] = []
    for seed in range(seeds):
        result, predictions = simulate_audit(scenario, seed, n_boot=n_boot)
        gate = evaluate_gate(result, policy, baseline=result if scenario.baseline_self else None)
        verdicts[gate.verdict] = verdicts.get(gate.verdict, 0) + 1
        for check in gate.checks:
            if check.id in fails and check.verdict == "FAIL":
                fails[check.id] += 1
            if check.id in passes and check.verdict == "PASS":
                passes[check.id] += 1
        failed_groups = {t.group for c in gate.checks if c.severity == "blocking" for t in c.targets
                         if t.verdict == "FAIL"}
        if scenario.harmed is not None and scenario.harmed in failed_groups:
            named += 1
        if seed < 50:  # interval coverage and printed power settle long before the verdict rates
            _covered(result, _truth(scenario, predictions), scenario, cover)
            wanted = scenario.harmed
            detectable += [t.detectable_harm for c in gate.checks if c.id == "group-vs-rest-accuracy"
                           for t in c.targets if t.detectable_harm is not None
                           and (wanted is None or t.group == wanted)]
        if progress:
            progress(1)
    return ScenarioResult(
        scenario=scenario, seeds=seeds, verdicts=verdicts,
        check_fail={k: Rate(v, seeds) for k, v in fails.items()},
        check_pass={k: Rate(v, seeds) for k, v in passes.items()},
        named=Rate(named, seeds) if scenario.harmed else None,
        coverage={k: Rate(*v) for k, v in cover.items()},
        detectable=float(np.mean(detectable)) if detectable else None,
    )


def calibrate_detectable(seeds: int, *, n_per_group: int = 300, n_boot: int = 100,
                         progress: Callable[[int], None] | None = None) -> tuple[float, Rate]:
    """Plant exactly the harm the gate prints as detectable (7 groups x ``n_per_group``) and
    measure how often it FAILs naming the group: the printed figure promises 80%."""
    probe = Scenario("probe", "", {"race": SEVEN}, n_per_group, gaps={"race": {"g7": -0.10}}, harmed="race=g7")
    printed = run_scenario(probe, 10, n_boot=n_boot).detectable
    assert printed is not None
    planted = Scenario(f"detectable-{n_per_group}", "", {"race": SEVEN}, n_per_group,
                       gaps={"race": {"g7": -printed}}, harmed="race=g7")
    outcome = run_scenario(planted, seeds, n_boot=n_boot, progress=progress)
    assert outcome.named is not None
    return printed, outcome.named


def run_selftest(seeds: int = 200, *, scenarios: Sequence[Scenario] | None = None, n_boot: int = 100,
                 progress: bool = False) -> tuple[list[ScenarioResult], tuple[float, Rate]]:
    from tqdm import tqdm

    chosen = list(scenarios or default_scenarios())
    bar = tqdm(total=seeds * (len(chosen) + 1), desc="selftest", disable=not progress)
    results = [run_scenario(s, seeds, n_boot=n_boot, progress=bar.update) for s in chosen]
    calibration = calibrate_detectable(seeds, n_boot=n_boot, progress=bar.update)
    bar.close()
    return results, calibration


def to_markdown(results: list[ScenarioResult], calibration: tuple[float, Rate] | None, *,
                seeds: int, command: str) -> str:
    """The table committed as docs/selftest.md."""
    lines = [
        "# Error rates of the release decision (selftest)",
        "",
        f"Generated by `{command}`: {seeds} seeds per scenario, the default evaluation settings "
        "and the default policy, through `build_evaluation_section` and `evaluate_gate`. "
        "Rates are shown with their 95% Wilson interval (Monte-Carlo error).",
        "",
        "| scenario | what is simulated | PASS | INSUFFICIENT | FAIL | FAIL naming the harmed group |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        named = str(r.named) if r.named else "—"
        lines.append(f"| `{r.scenario.name}` | {r.scenario.description} | {r.rate('PASS')} | "
                     f"{r.rate('INSUFFICIENT_EVIDENCE')} | {r.rate('FAIL')} | {named} |")
    for title, field_name in (("FAIL", "check_fail"), ("PASS", "check_pass")):
        first = getattr(results[0], field_name)
        lines += ["", f"## {title} rate per blocking check", "",
                  "| scenario | " + " | ".join(f"`{k}`" for k in first) + " |", "|---|" + "---|" * len(first)]
        for r in results:
            lines.append(f"| `{r.scenario.name}` | " + " | ".join(str(v) for v in getattr(r, field_name).values()) + " |")
    lines += ["", "## Coverage of the 95% intervals (accuracy, single attributes)", "",
              "True values come from the planted accuracies; first 50 seeds of each scenario. The default "
              "policy judges group_vs_rest (blocking) and error_ratio (warning); the max - min "
              "difference is reported for fairlearn users but not judged, because any interval for a "
              "maximum that is valid at parity is conservative away from it (tests/stats/"
              "test_decision_stats.py measures 93-97% at parity and when the extreme pair is clear, "
              "up to 99.5% when small groups hide which pair is extreme).", "",
              "| scenario | group_vs_rest | difference (max - min) | error_ratio |", "|---|---|---|---|"]
    for r in results:
        cells = [str(r.coverage[k]) if k in r.coverage else "—" for k in ("group_vs_rest", "difference", "error_ratio")]
        lines.append(f"| `{r.scenario.name}` | " + " | ".join(cells) + " |")
    if calibration is not None:
        printed, measured = calibration
        lines += ["", "## Detectable harm", "",
                  "The gate prints, beside each comparison, the smallest harm it FAILs with 80% "
                  "probability under its correction. At 7 groups x 300 items it prints "
                  f"{100 * printed:.1f} points; planting exactly that harm FAILs naming the group in "
                  f"{measured} of seeds."]
        lines += [f"- `{r.scenario.name}`: mean printed detectable harm "
                  f"{100 * r.detectable:.1f} points" for r in results if r.detectable is not None]
    return "\n".join(lines) + "\n"


def summary_ok(results: list[ScenarioResult]) -> list[str]:
    """The promises the default policy makes, checked against a selftest run: problems found."""
    problems = []
    for r in results:
        fail = r.rate("FAIL")
        if r.scenario.fair and fail.value > 0.05:
            problems.append(f"{r.scenario.name}: a fair model FAILs in {fail}")
        if r.scenario.name == "null-fairface-val" and r.rate("PASS").value < 0.8:
            problems.append(f"{r.scenario.name}: a fair model PASSes in only {r.rate('PASS')}")
        if r.named is not None and r.scenario.name.startswith("harm") and r.named.value < 0.8:
            problems.append(f"{r.scenario.name}: the planted harm is named in only {r.named}")
        baseline = r.check_pass.get("no-group-worse-than-baseline")
        if r.scenario.baseline_self and baseline is not None and baseline.value < 0.95:
            problems.append(f"{r.scenario.name}: a model judged against itself passes the baseline "
                            f"check in only {baseline}")
    return problems


__all__ = [
    "Scenario",
    "ScenarioResult",
    "calibrate_detectable",
    "default_scenarios",
    "fairface_validation_cells",
    "run_scenario",
    "run_selftest",
    "simulate_audit",
    "summary_ok",
    "to_markdown",
]

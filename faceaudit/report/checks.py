"""The report's contamination and prompt-sensitivity parts, and page one's list of what ran.

Every sentence is derived from the stored sections (and, where the section cannot say why
something is absent, from the run's stored config); nothing is recomputed. A stage that did
not run is named under "what was not tested", never described.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from faceaudit.report.findings import _group_words, _pct, _pts
from faceaudit.schema import AuditResult
from faceaudit.schema.common import Estimate


def _interval(e: Estimate) -> str:
    return f"95% interval {_pct(e.lower)} to {_pct(e.upper)}"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


@dataclass
class ContaminationView:
    summary: list[str]
    groups: list[dict[str, Any]]
    clean_text: str
    clean: list[dict[str, Any]] = field(default_factory=list)


def _config_value(result: AuditResult, section: str, key: str) -> Any:
    config = result.run.config if isinstance(result.run.config, dict) else {}
    part = config.get(section)
    return part.get(key) if isinstance(part, dict) else None


def contamination_view(result: AuditResult) -> ContaminationView | None:
    c = result.contamination
    if c is None:
        return None
    # Only what the run knows: it trained on this corpus, or the corpus was named for the check
    # (it may still be what the model was trained on elsewhere, e.g. FairFaceGPT).
    corpus = (f"the corpus this run trained on ({c.corpus})" if c.trained_on_corpus
              else f"the corpus {c.corpus}")
    compared = f"{_count(c.n_corpus_images, 'image')} of {corpus}"
    if c.n_contaminated_images == 0:
        summary = [f"None of the {_count(c.n_eval_images, 'evaluation image')} was found among the {compared}."]
    else:
        kinds = [_count(n, what, plural) for n, what, plural in (
            (c.n_exact_file, "as the same file", "as the same file"),
            (c.n_exact_pixels, "with the same pixels in another file", "with the same pixels in another file"),
            (c.n_near, "as a near copy (re-encoded or resized)", "as near copies (re-encoded or resized)")) if n]
        summary = [
            f"{c.n_contaminated_images:,} of the {_count(c.n_eval_images, 'evaluation image')} "
            f"({_pct(c.rate.value)}, {_interval(c.rate)}) were found among the {compared}: {', '.join(kinds)}. "
            f"{_count(c.n_contaminated_items, 'evaluation question')} "
            f"{'asks' if c.n_contaminated_items == 1 else 'ask'} about them."
        ]
    summary.append(f"How: {c.method}.")
    groups = [{"who": _group_words(f"{g.attribute}={g.label}"), "n_images": g.n_images,
               "n_contaminated": g.n_contaminated, "rate": g.rate}
              for g in sorted(c.groups, key=lambda g: (-g.rate.value if g.n_images else 0, g.attribute, g.label))]
    if c.clean is None:
        # The section's own record of why (a carried-over section may predate the stored config);
        # audits written before it existed fall back to the config.
        turned_off = (c.clean_skipped == "turned_off" if c.clean_skipped is not None
                      else _config_value(result, "contamination", "recompute_clean") is False)
        if result.evaluation is None:
            clean_text = "Accuracy was not recomputed without these images: this audit has no evaluation."
        elif turned_off:
            clean_text = ("Accuracy was not recomputed without these images: the run's settings turned it off "
                          "(contamination.recompute_clean: false).")
        else:
            clean_text = ("Accuracy was not recomputed without these images: the evaluation was not available "
                          "when the check ran.")
        return ContaminationView(summary, groups, clean_text)
    done = [t.task for t in c.clean]
    if c.n_contaminated_items == 0:
        clean_text = ("No evaluation question asks about an image found in the corpus, so accuracy without them "
                      "is accuracy on all questions.")
        return ContaminationView(summary, groups, clean_text)
    clean_text = (f"Accuracy recomputed on the questions whose images are not in the corpus, for "
                  f"{_count(len(done), 'task')} ({', '.join(done) or 'none'}); groups that lost questions first.")
    clean = []
    for task in c.clean:
        rows = sorted(task.groups, key=lambda g: (-g.n_excluded, g.attribute, g.label))
        clean.append({
            "task": task.task,
            "sentence": (f"{task.task}: {_count(task.n_excluded, 'question')} of {task.n_items:,} left out; "
                         f"accuracy without them {_pct(task.overall_clean.value)} ({_interval(task.overall_clean)})."),
            "rows": [{"who": _group_words(f"{g.attribute}={g.label}"), "all": g.all_items, "clean": g.clean_items,
                      "excluded": g.n_excluded} for g in rows],
        })
    return ContaminationView(summary, groups, clean_text, clean)


_VARIANT = re.compile(r"q(\d+)o(\d+)")


def variant_words(key: str) -> str:
    """'q0o0' -> "the question's own wording, options in the evaluation's order";
    'q2o1' -> 'another wording (2), options shuffled (1)'."""
    found = _VARIANT.fullmatch(key)
    if not found:
        return key
    wording, order = int(found.group(1)), int(found.group(2))
    # Wording 0 is each question's own; the others are the task's other templates, in the
    # order the item does not use, so "wording 2" is not one phrasing across questions.
    said = "the question's own wording" if wording == 0 else f"another wording ({wording})"
    return f"{said}, " + ("options in the evaluation's order" if order == 0 else f"options shuffled ({order})")


@dataclass
class SensitivityView:
    summary: list[str]
    flagged_text: str
    groups: list[dict[str, Any]]


def sensitivity_view(result: AuditResult) -> SensitivityView | None:
    s = result.sensitivity
    if s is None:
        return None
    c = s.overall_consistency
    summary = [
        f"The model answered {_count(s.n_items, 'evaluation question')} again in up to "
        f"{_count(s.paraphrases, 'wording')} × {_count(s.option_orders, 'option order')} "
        f"(up to {_count(len(s.variants), 'version')} of each question, fewer where its task has fewer wordings; "
        f"{s.mode} mode). {_pct(c.value)} of the "
        f"questions got the same answer in every version ({_interval(c)})."
    ]
    defined = {k: e for k, e in s.accuracy_by_variant.items() if e.value == e.value}
    if len(defined) >= 2:
        low = min(defined, key=lambda k: defined[k].value)
        high = max(defined, key=lambda k: defined[k].value)
        spread = (f"Accuracy ranged from {_pct(defined[low].value)} ({variant_words(low)}) to "
                  f"{_pct(defined[high].value)} ({variant_words(high)}): a spread of "
                  f"{_pts(defined[high].value - defined[low].value)} points")
        if defined[low].n != defined[high].n:  # a task with fewer wordings is missing from some versions
            spread += (f", over different sets of questions ({defined[low].n:,} and {defined[high].n:,} answers: "
                       "tasks with fewer wordings are not in every version), so part of it can be the mix of tasks")
        summary.append(spread + ".")
    if s.accuracy_shuffled_order is not None:
        summary.append(f"With the options in the evaluation's order the model was right for "
                       f"{_pct(s.accuracy_original_order.value)} of the answers; with them shuffled, for "
                       f"{_pct(s.accuracy_shuffled_order.value)}.")
    family = f"Holm's correction over all {_count(len(s.groups), 'group')}"
    if s.flagged:
        flagged_text = (f"Flagged: {', '.join(_group_words(name) for name in s.flagged)}. Their answers stay the "
                        f"same less often than everyone else's, significantly after {family}.")
    else:
        flagged_text = (f"No group was flagged: no group's answers stay the same significantly less often than "
                        f"everyone else's after {family}.")
    groups = [{"who": _group_words(f"{g.attribute}={g.label}"), "n": g.n_items, "consistency": g.consistency,
               "vs_rest": g.consistency_vs_rest, "p_adjusted": g.p_adjusted, "spread": g.accuracy_spread,
               "flagged": g.flagged}
              for g in sorted(s.groups, key=lambda g: (not g.flagged, g.consistency.value, g.attribute, g.label))]
    return SensitivityView(summary, flagged_text, groups)


def tested_rows(result: AuditResult) -> list[tuple[str, str]]:
    """Page one's 'what was tested' rows for the robustness, contamination and sensitivity stages."""
    rows = []
    rb = result.robustness
    if rb is not None:
        rows.append(("Robustness", f"{_count(len(rb.perturbations), 'perturbation')} "
                     f"({', '.join(rb.families)}) at severities {', '.join(map(str, rb.severities))} on "
                     f"{_count(rb.n_images, 'image')}"))
    c = result.contamination
    if c is not None:
        rows.append(("Training images in the evaluation",
                     f"{c.n_contaminated_images:,} of {_count(c.n_eval_images, 'evaluation image')} found in the "
                     f"{'training ' if c.trained_on_corpus else ''}corpus"))
    s = result.sensitivity
    if s is not None:
        rows.append(("Prompt sensitivity",
                     f"{_count(s.n_items, 'question')} asked in up to {_count(len(s.variants), 'version')}; "
                     f"{_pct(s.overall_consistency.value)} answered the same every time; "
                     f"{_count(len(s.flagged), 'group')} flagged"))
    return rows

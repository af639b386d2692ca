"""Charts for the report: matplotlib figures embedded as SVG data URIs.

SVG keeps the charts sharp when the report is printed to PDF and, with text kept as
text (``svg.fonttype: none``), small. Each chart comes with alt text that states
what it shows, for screen readers and for e-mail clients that block images.
The palette is Okabe-Ito, distinguishable with the common colour-vision deficiencies.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402

from faceaudit.textsafe import chart_label  # noqa: E402  (labels are data: no mathtext, no controls)

OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}

_STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "faceaudit",  # stable ids -> the same audit renders the same bytes
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#555555",
    "axes.titlesize": 10,
}


@dataclass(frozen=True)
class Chart:
    uri: str
    alt: str


def _encode(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass(frozen=True)
class Row:
    label: str
    value: float
    lower: float
    upper: float
    n: int | None = None


#: What a chart of judged values says when no single limit line can be drawn.
LIMIT_NOT_DRAWN = ("; the policy's limit is not drawn: it differs between these rows or does not apply to all of "
                   "them (see Release checks)")


def level(confidence: float) -> str:
    """An interval level as printed: 0.95 -> '95%', 0.975 -> '97.5%'."""
    return f"{100 * confidence:g}%"


def limit_note(limit: float | None, judged: bool, *, drawn: str) -> str:
    """The end of an axis label about the policy's limit: ``drawn`` when a line shows it; that
    none can be drawn when the rows were judged against differing (or partial) limits; that
    none applied when no check judged them."""
    if limit is not None:
        return drawn
    return LIMIT_NOT_DRAWN if judged else "; no policy limit applied"


def interval_chart(
    rows: list[Row], *, title: str, xlabel: str, limit: float | None = None, xlim: tuple[float, float] | None = None,
    descending: bool = False, confidence: float = 0.95,
) -> Chart:
    """Point estimates with their ``confidence`` intervals, one row per group, in the order given
    (callers sort worst first; the first row is drawn at the top): lowest first, or highest
    first when ``descending`` (the alt text says which)."""
    with plt.rc_context(_STYLE):
        height = 0.9 + 0.32 * max(len(rows), 1)
        fig, ax = plt.subplots(figsize=(6.4, height))
        ys = list(range(len(rows)))[::-1]
        for y, row in zip(ys, rows, strict=True):
            if math.isnan(row.value):
                ax.text(0.0, y, "  undefined (NaN)", va="center", color=OKABE_ITO["vermillion"])
                continue
            err = [[max(row.value - row.lower, 0.0)], [max(row.upper - row.value, 0.0)]]
            ax.errorbar(
                row.value, y, xerr=err, fmt="o", color=OKABE_ITO["blue"], ecolor=OKABE_ITO["blue"],
                capsize=3, markersize=5, linewidth=1.4,
            )
        ax.set_yticks(ys)
        ax.set_yticklabels([chart_label(f"{r.label} (n={r.n})" if r.n is not None else r.label) for r in rows])
        if limit is not None:
            ax.axvline(limit, color=OKABE_ITO["vermillion"], linestyle="--", linewidth=1.2)
            ax.text(limit, len(rows) - 0.4, f" policy limit {limit:g}", color=OKABE_ITO["vermillion"],
                    va="bottom", fontsize=8)
        if xlim is not None:
            ax.set_xlim(*xlim)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_xlabel(chart_label(xlabel))
        ax.set_title(chart_label(title), loc="left")
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        uri = _encode(fig)
    finite = [r for r in rows if not math.isnan(r.value)]
    if finite:
        first = finite[0]
        other = (min if descending else max)(finite, key=lambda r: r.value)
        alt = (
            f"{title}: {len(rows)} groups with {level(confidence)} intervals. "
            f"{'Highest' if descending else 'Lowest'} shown "
            f"first: {first.label} {first.value:.3g} ({first.lower:.3g} to {first.upper:.3g}); "
            f"{'lowest' if descending else 'highest'} {other.label} {other.value:.3g} ({other.lower:.3g} to "
            f"{other.upper:.3g})."
        )
        if limit is not None:
            alt += f" Dashed line: the policy's limit, {limit:g}."
    else:
        alt = f"{title}: no defined values."
    return Chart(uri, alt)


def count_chart(counts: dict[str, int], *, title: str) -> Chart:
    """Horizontal bars of how many records each label has."""
    labels = list(counts)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 0.8 + 0.28 * max(len(labels), 1)))
        ys = list(range(len(labels)))[::-1]
        ax.barh(ys, [counts[k] for k in labels], color=OKABE_ITO["sky"], edgecolor=OKABE_ITO["blue"])
        for y, key in zip(ys, labels, strict=True):
            ax.text(counts[key], y, f" {counts[key]:,}", va="center", fontsize=8)
        ax.set_yticks(ys)
        ax.set_yticklabels([chart_label(label) for label in labels])
        ax.set_xlabel("records")
        ax.set_title(chart_label(title), loc="left")
        uri = _encode(fig)
    summary = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    return Chart(uri, f"{title}: {summary}.")


@dataclass(frozen=True)
class Reliability:
    """One panel of a reliability diagram: a group's bins (faceaudit.schema.evaluation.CalibrationBins)."""

    label: str
    ece: float
    counts: list[int]
    mean_confidence: list[float]
    accuracy: list[float]


def reliability_diagram(panels: list[Reliability], *, title: str, reference: Reliability | None = None) -> Chart:
    """Accuracy against confidence per bin, one panel per group beside the diagonal of perfect
    calibration, with each bin's item count drawn as bars underneath and written above them."""
    n = max(len(panels), 1)
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(2, n, figsize=(6.4, 3.9), sharex=True, squeeze=False,
                                 gridspec_kw={"height_ratios": [3, 1], "hspace": 0.08})
        width = 1 / len(panels[0].counts) if panels else 0.1
        for col, panel in enumerate(panels):
            top, bottom = axes[0, col], axes[1, col]
            top.plot([0, 1], [0, 1], linestyle=":", color="#777777", linewidth=1, label="perfectly calibrated")
            if reference is not None:
                ref = [(c, a) for k, c, a in zip(reference.counts, reference.mean_confidence, reference.accuracy,
                                                 strict=True) if k]
                top.plot(*zip(*ref, strict=True), color="#999999", linewidth=1, label=chart_label(reference.label))
            points = [(c, a) for k, c, a in zip(panel.counts, panel.mean_confidence, panel.accuracy, strict=True) if k]
            if points:
                top.plot(*zip(*points, strict=True), marker="o", markersize=4, linewidth=1.4,
                         color=OKABE_ITO["blue"], label="this group")
            top.set_xlim(0, 1)
            top.set_ylim(0, 1)
            top.set_title(f"{chart_label(panel.label)}\nECE {panel.ece:.3f}", fontsize=8, loc="left")
            top.grid(color="#eeeeee", linewidth=0.6)
            centres = [(b + 0.5) * width for b in range(len(panel.counts))]
            bottom.bar(centres, panel.counts, width=width * 0.9, color=OKABE_ITO["sky"], edgecolor=OKABE_ITO["blue"],
                       linewidth=0.5)
            tallest = max(panel.counts) or 1
            for x, count in zip(centres, panel.counts, strict=True):
                if count:
                    bottom.text(x, count + 0.04 * tallest, f"{count:,}", ha="center", va="bottom", fontsize=6)
            bottom.set_ylim(0, tallest * 1.45)
            bottom.set_yticks([])
            bottom.set_xticks([0, 0.5, 1], ["0", "0.5", "1"])
            bottom.set_xlabel("confidence")
            if col == 0:
                top.set_ylabel("accuracy")
                bottom.set_ylabel("items", fontsize=7)
            else:
                top.set_yticklabels([])
        axes[0, 0].legend(fontsize=6, frameon=False, loc="upper left")
        fig.suptitle(chart_label(title), x=0.02, y=1.04, ha="left", fontsize=10)
        uri = _encode(fig)
    parts = []
    for panel in panels:
        gaps = [(abs(a - c), k, c, a) for k, c, a in zip(panel.counts, panel.mean_confidence, panel.accuracy, strict=True)
                if k]
        if gaps:
            _, k, c, a = max(gaps)
            parts.append(f"{panel.label}: ECE {panel.ece:.3g}; largest gap in a bin of {k:,} items, mean "
                         f"confidence {c:.0%} and accuracy {a:.0%}")
    alt = f"{title}. Reliability diagram with the diagonal of perfect calibration and item counts per bin. " + (
        "; ".join(parts) + "." if parts else "No bin holds any item.")
    return Chart(uri, alt)

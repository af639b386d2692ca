"""The report's robustness part: heat map, severity curves and a contact sheet.

Everything plotted is read from the stored ``robustness`` section. The one exception is the
contact sheet, which is an illustration, not a result: it draws each perturbation of the
audit at each severity on a fixed SYNTHETIC face (never an audited image), so a reader sees
what "eye_band severity 4" means without any real face appearing in the report.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import numpy as np

from faceaudit.report import charts
from faceaudit.report.charts import OKABE_ITO, Chart, plt
from faceaudit.report.findings import _group_words
from faceaudit.textsafe import chart_label

_LINE_COLOURS = [OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "purple", "sky", "black")]


def heat_map(section: dict[str, Any]) -> Chart:
    """Group x perturbation: the group's extra drop (interaction) averaged over severities."""
    perturbations = [p["name"] for p in section["perturbations"]]
    rows = sorted({(g["attribute"], g["group"]) for g in section["groups"]})
    values = np.full((len(rows), len(perturbations)), np.nan)
    flagged = np.zeros_like(values, dtype=bool)
    for g in section["groups"]:
        i, j = rows.index((g["attribute"], g["group"])), perturbations.index(g["perturbation"])
        values[i, j] = np.nansum([values[i, j], g["interaction"]["value"] / len(section["severities"])])
        flagged[i, j] |= g["interaction"]["lower"] > 0
    with plt.rc_context(charts._STYLE):
        fig, ax = plt.subplots(figsize=(1.0 + 0.62 * len(perturbations), 0.9 + 0.34 * len(rows)))
        bound = max(0.05, float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.05)
        image = ax.imshow(values * 100, cmap="RdBu_r", vmin=-bound * 100, vmax=bound * 100, aspect="auto")
        for i in range(len(rows)):
            for j in range(len(perturbations)):
                if not math.isnan(values[i, j]):
                    mark = "*" if flagged[i, j] else ""
                    ax.text(j, i, f"{values[i, j] * 100:+.1f}{mark}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(perturbations)))
        ax.set_xticklabels([chart_label(p.replace("_", " ")) for p in perturbations], rotation=40, ha="right")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([chart_label(f"{a}={g}") for a, g in rows])
        ax.set_title("Extra accuracy drop of each group vs the rest (points, mean over severities)", loc="left")
        fig.colorbar(image, ax=ax, label="points (positive: the group loses more)")
        uri = charts._encode(fig)
    worst = np.unravel_index(np.nanargmax(values), values.shape) if np.isfinite(values).any() else None
    alt = "Heat map of each group's extra accuracy drop against the rest, per perturbation."
    if worst is not None:
        a, g = rows[worst[0]]
        alt += (f" Largest: {a}={g} under {perturbations[worst[1]]}, {values[worst] * 100:+.1f} points on average"
                " over severities; * marks a cell where some severity's interval lies above 0 (unadjusted).")
    return Chart(uri, alt)


def severity_curves(section: dict[str, Any]) -> list[Chart]:
    """Accuracy against severity per group, one chart per family and attribute, with intervals."""
    out = []
    blocks: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for curve in section["curves"]:
        blocks.setdefault((curve["family"], curve["attribute"]), []).append(curve)
    levels = [0, *section["severities"]]
    for (family, attribute), curves in blocks.items():
        with plt.rc_context(charts._STYLE):
            fig, ax = plt.subplots(figsize=(6.4, 3.2))
            for k, curve in enumerate(curves):
                # one point per level (clean, then each severity); a curve holding fewer is drawn
                # as far as it goes rather than refused
                points = curve["accuracy_by_severity"][: len(levels)]
                ys = [p["value"] for p in points]
                err = [[max(p["value"] - p["lower"], 0) for p in points], [max(p["upper"] - p["value"], 0) for p in points]]
                offset = (k - (len(curves) - 1) / 2) * 0.06  # keep overlapping intervals apart
                ax.errorbar([x + offset for x in levels[: len(points)]], ys, yerr=err, marker="o", markersize=4, capsize=2,
                            linewidth=1.3, color=_LINE_COLOURS[k % len(_LINE_COLOURS)],
                            label=chart_label(f"{curve['group']} (n={curve['n_images']}, AUC {curve['auc']['value']:.2f})"))
            ax.set_xticks(levels)
            ax.set_xticklabels(["clean", *map(str, section["severities"])])
            ax.set_xlabel("severity")
            ax.set_ylabel("accuracy (95% interval)")
            ax.set_ylim(0, 1)
            ax.set_title(chart_label(f"{family}: accuracy by severity and {attribute}"), loc="left")
            ax.legend(fontsize=7, frameon=False, loc="lower left")
            ax.grid(axis="y", color="#dddddd", linewidth=0.6)
            uri = charts._encode(fig)
        worst = min(curves, key=lambda c: c["auc"]["value"])
        alt = (f"{family}: accuracy against severity for each {attribute} group, averaged over the family's "
               f"perturbations. Lowest area under the curve: {worst['group']} ({worst['auc']['value']:.3g}).")
        out.append(Chart(uri, alt))
    return out


def contact_sheet(names: list[str], severities: list[int], *, size: int = 80) -> Chart | None:
    """Each perturbation (rows) at each severity (columns) on one fixed synthetic face."""
    from PIL import Image, ImageDraw

    from faceaudit.data.synthetic import SyntheticConfig, draw_face, plan_faces
    from faceaudit.data.synthetic_draw import landmarks
    from faceaudit.perturb.geometry import FaceGeometry
    from faceaudit.perturb.registry import get_perturbation

    known = []
    for name in names:
        try:
            known.append(get_perturbation(name))
        except ValueError:
            continue  # a user perturbation not registered in this process: nothing to draw
    if not known:
        return None
    spec = plan_faces(SyntheticConfig(n=10, seed=0))[3]
    face = np.asarray(draw_face(spec, size))
    geometry = FaceGeometry(**landmarks(spec))
    label_w = 110
    sheet = Image.new("RGB", (label_w + size * (len(severities) + 1), 16 + size * len(known)), "white")
    pen = ImageDraw.Draw(sheet)
    for c, title in enumerate(["clean", *(f"severity {s}" for s in severities)]):
        pen.text((label_w + c * size + 4, 2), title, fill=(30, 30, 30))
    for r, p in enumerate(known):
        y = 16 + r * size
        pen.text((4, y + size // 2 - 6), p.name.replace("_", " "), fill=(30, 30, 30))
        sheet.paste(Image.fromarray(face), (label_w, y))
        for c, s in enumerate(severities, start=1):
            out = p.apply(face, s, seed=0, image_id=spec.id, geometry=geometry)
            sheet.paste(Image.fromarray(out), (label_w + c * size, y))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=True)
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    alt = (f"Contact sheet: {len(known)} perturbations (rows) at severities "
           f"{', '.join(map(str, severities))} (columns) drawn on a synthetic face, not an audited image.")
    return Chart(uri, alt)


def _judged_chart(rows: list[charts.Row], paths: list[str], gate: Any, *, title: str, xlabel: str,
                  confidence: float, descending: bool = False) -> Chart:
    """An interval chart (in points) of values a gate check judges, with its limit when one applies."""
    from faceaudit.report.overview import shared_limit

    limit, judged = shared_limit(gate, paths)
    note = charts.limit_note(limit, judged, drawn="; dashed: the policy's limit")
    return charts.interval_chart(rows, title=title, xlabel=xlabel + note, confidence=confidence,
                                 limit=None if limit is None else 100 * limit, descending=descending)


def extra_drop_chart(worst: list[dict[str, Any]], gate: Any, confidence: float = 0.95) -> Chart:
    """The largest extra drops (a group's drop minus the rest's), in points, with the limit the
    gate applied to them (robustness-extra-drop-10-points in the default policy)."""
    rows = [charts.Row(f"{_group_words(g['attribute'] + '=' + g['group'])}, {g['perturbation'].replace('_', ' ')} "
                       f"at severity {g['severity']}",
                       100 * g["interaction"]["value"], 100 * g["interaction"]["lower"],
                       100 * g["interaction"]["upper"], g["n_images"]) for g in worst]
    return _judged_chart(rows, [f"robustness.groups[{g['name']}].interaction" for g in worst], gate,
                         title="Largest extra accuracy drops under a perturbation",
                         xlabel=f"group's drop minus everyone else's, points ({charts.level(confidence)} interval, unadjusted)",
                         confidence=confidence, descending=True)


def curve_area_chart(section: dict[str, Any], gate: Any, k: int = 12) -> Chart | None:
    """Each group's area under accuracy-vs-severity minus the rest's, lowest first, in points."""
    curves = sorted((c for c in section["curves"] if not math.isnan(c["auc_vs_rest"]["value"])),
                    key=lambda c: c["auc_vs_rest"]["value"])[:k]
    if not curves:
        return None
    rows = [charts.Row(f"{_group_words(c['attribute'] + '=' + c['group'])}, {c['family']}", 100 * c["auc_vs_rest"]["value"],
                       100 * c["auc_vs_rest"]["lower"], 100 * c["auc_vs_rest"]["upper"], c["n_images"])
            for c in curves]
    return _judged_chart(rows, [f"robustness.curves[{c['name']}].auc_vs_rest" for c in curves], gate,
                         title="Area under accuracy against severity: each group minus everyone else",
                         xlabel=f"group's area minus the rest's, points ({charts.level(section['confidence'])} interval, "
                         "unadjusted)", confidence=section["confidence"])


def robustness_view(section: dict[str, Any], gate: Any = None) -> dict[str, Any]:
    """Everything the robustness template draws; ``gate`` (a GateSection or None) gives the limits."""
    worst = sorted(section["groups"], key=lambda g: -g["interaction"]["value"])[:12]
    return {
        "extra_drops": extra_drop_chart(worst, gate, section["confidence"]) if worst else None,
        "curve_areas": curve_area_chart(section, gate),
        "heat_map": heat_map(section),
        "curves": severity_curves(section),
        "contact_sheet": contact_sheet([p["name"] for p in section["perturbations"]], section["severities"]),
        "worst": worst,
        "baseline_changes": baseline_changes(section.get("baseline_comparison")),
    }


#: Rows of the paired baseline table shown before the rest fold away.
BASELINE_ROWS_SHOWN = 10


def baseline_changes(comparison: dict[str, Any] | None) -> dict[str, Any] | None:
    """The in-run baseline comparison as the report prints it: who is less robust and who more
    (after the stored Holm correction), then every change, those judged first, largest first."""
    if not comparison:
        return None
    rows = sorted(comparison["changes"], key=lambda c: (c["direction"] == "no clear change", -c["change"]["value"]))

    def names(direction: str) -> list[str]:
        return [f"{c['family']}: {c['attribute']}={c['group']}" if c["attribute"] else f"{c['family']}: all images"
                for c in rows if c["direction"] == direction]

    return {"worse": names("worse"), "better": names("better"), "shown": rows[:BASELINE_ROWS_SHOWN],
            "folded": rows[BASELINE_ROWS_SHOWN:]}

"""The human review loop: export a queue, import the reviewer's verdicts.

The queue is (1) a random sample of answers per stratum (an intersection cell
of the sensitive attributes), sized so that the stratum's error rate is known
to within ``precision`` (95%, normal approximation, planning value
``expected_error_rate``, 0.5 by default: the worst case; a stratum smaller
than that is reviewed whole), and (2) every answer a scanner flagged, up to ``max_flagged``.
Only the random sample estimates an error rate; flagged items are reported as
confirmed or not. The queue is a CSV (spreadsheet formulas neutralised) and a
self-contained HTML page whose only script is pinned by its hash in the
Content-Security-Policy, so corpus text that slipped through escaping still
could not run.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import math
from pathlib import Path

import numpy as np

from faceaudit.scan.rates import _difference
from faceaudit.scan.registry import ScanContext, register_scanner
from faceaudit.scan.table import GroupColumn, ScanCorpus, _intersection
from faceaudit.schema.common import Estimate
from faceaudit.schema.corpus_scan import GroupRate, RateTable, ReviewedGroup, ReviewResult
from faceaudit.stats.proportions import proportion_estimate
from faceaudit.store import atomic_write_text, read_regular_text

QUEUE_COLUMNS = ("key", "stratum", "selection", "reasons", "image_id", "aspect", "labels",
                 "question", "answer", "verdict", "note")  # fmt: skip
VERDICTS = {"ok": "ok", "correct": "ok", "pass": "ok", "fine": "ok",
            "error": "error", "wrong": "error", "fail": "error", "bad": "error"}  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_Z = 1.959963984540054

# The review page's one script. Its SHA-256 goes into the page's Content-Security-Policy.
REVIEW_SCRIPT = """
(function () {
  var items = document.querySelectorAll("li.item");
  var counter = document.getElementById("progress");
  function done() {
    var n = 0;
    items.forEach(function (li) { if (li.querySelector("input[type=radio]:checked")) { n += 1; } });
    counter.textContent = n + " of " + items.length + " reviewed";
  }
  function cell(text) { return '"' + String(text).replace(/"/g, '""') + '"'; }
  document.addEventListener("change", done);
  document.getElementById("download").addEventListener("click", function () {
    var lines = ["key,verdict,note"];
    items.forEach(function (li) {
      var checked = li.querySelector("input[type=radio]:checked");
      var note = li.querySelector("textarea").value;
      lines.push([cell(li.dataset.key), cell(checked ? checked.value : ""), cell(note)].join(","));
    });
    var blob = new Blob([lines.join("\\r\\n") + "\\r\\n"], {type: "text/csv"});
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "verdicts.csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
  });
  done();
})();
"""


def sample_size(precision: float, expected: float = 0.5, population: int | None = None) -> int:
    """Items to review so that a proportion near ``expected`` has a 95% half-width <= precision."""
    # No finite-population correction: the error rate is reported with a plain Wilson
    # interval, and the stated precision must hold for that interval.
    n = math.ceil(_Z**2 * expected * (1 - expected) / precision**2)
    return n if population is None else min(n, max(population, 0))


def _strata(corpus: ScanCorpus, attributes: list[str]) -> GroupColumn:
    by_name = {c.attribute: c for c in corpus.columns}
    missing = [a for a in attributes if a not in by_name]
    if missing:
        raise ValueError(
            f"scan.review.stratify_by names {missing}, not among the scanned attributes "
            f"{[c.attribute for c in corpus.columns]}"
        )
    chosen = [by_name[a] for a in attributes]
    return chosen[0] if len(chosen) == 1 else _intersection(chosen)


def _safe_cell(value: str) -> str:
    """Neutralise spreadsheet formulas (OWASP CSV injection): corpus text is hostile."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def build_queue(ctx: ScanContext, stratum_column: GroupColumn) -> tuple[list[dict[str, str]], dict[str, int], int]:
    """Queue rows, sample size per stratum, and how many flagged items were left out."""
    corpus, cfg = ctx.corpus, ctx.config.review
    stratum = stratum_column.of_image[corpus.image]
    rng = np.random.default_rng(ctx.seed)
    chosen: dict[int, str] = {}
    sizes: dict[str, int] = {}
    for code, name in enumerate(stratum_column.names):
        members = np.flatnonzero(stratum == code)
        n = sample_size(cfg.precision, cfg.expected_error_rate, len(members))
        sizes[name] = n
        for i in np.sort(rng.choice(members, size=n, replace=False)):
            chosen[int(i)] = "sample"
    reasons: dict[int, list[str]] = {}
    for reason, mask in ctx.flags.items():
        for i in np.flatnonzero(mask):
            reasons.setdefault(int(i), []).append(reason)
    flagged = [i for i in sorted(reasons) if i not in chosen]
    dropped = max(0, len(flagged) - cfg.max_flagged)
    for i in flagged[: cfg.max_flagged]:
        chosen[i] = "flagged"
    rows = []
    for i, selection in sorted(chosen.items(), key=lambda kv: (kv[1] != "flagged", kv[0])):
        code = stratum[i]
        rows.append({
            "key": corpus.keys[i],
            "stratum": stratum_column.names[code] if code >= 0 else "(unlabelled)",
            "selection": selection,
            "reasons": "; ".join(reasons.get(i, [])),
            "image_id": corpus.image_ids[corpus.image[i]],
            "aspect": corpus.aspects[corpus.aspect[i]],
            "labels": corpus.pair_labels(i),
            "question": corpus.questions[i],
            "answer": corpus.answers[i],
            "verdict": "",
            "note": "",
        })  # fmt: skip
    return rows, sizes, dropped


def write_queue_csv(rows: list[dict[str, str]], path: Path) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=QUEUE_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _safe_cell(str(v)) for k, v in row.items()})
    return atomic_write_text(path, buffer.getvalue())


def script_csp_hash(script: str = REVIEW_SCRIPT) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def render_review_page(rows: list[dict[str, str]], *, title: str, precision: float) -> str:
    from faceaudit.report.render import _environment

    template = _environment().get_template("review.html.j2")
    return template.render(
        rows=rows, title=title, precision=precision, script=REVIEW_SCRIPT,
        script_hash=script_csp_hash(), n_sampled=sum(r["selection"] == "sample" for r in rows),
        n_flagged=sum(r["selection"] == "flagged" for r in rows),
    )  # fmt: skip


def read_verdicts(path: str | Path) -> dict[str, str]:
    """key -> "ok" | "error" from a reviewer's CSV (the queue CSV filled in, or the page's download)."""
    path = Path(path)
    try:
        text = read_regular_text(path, "utf-8-sig")
    except OSError as error:
        raise FileNotFoundError(f"cannot read verdicts {path}: {error.strerror}") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"key", "verdict"} <= set(reader.fieldnames):
        raise ValueError(f"{path}: a verdicts CSV needs the columns 'key' and 'verdict'")
    verdicts: dict[str, str] = {}
    for number, row in enumerate(reader, start=2):
        key = (row.get("key") or "").removeprefix("'")
        raw = (row.get("verdict") or "").strip().lower()
        if not raw or raw == "skip":
            continue
        if raw not in VERDICTS:
            raise ValueError(
                f"{path}: row {number} (key {key!r}): verdict {raw!r} is not one of "
                f"{sorted(set(VERDICTS))} (or empty / skip for not reviewed)"
            )
        verdicts[key] = VERDICTS[raw]
    return verdicts


@register_scanner("review", last=True)
def scan_review(ctx: ScanContext) -> ReviewResult:
    corpus, cfg = ctx.corpus, ctx.config.review
    attributes = cfg.stratify_by or [c.attribute for c in corpus.columns][:1]
    if not attributes:
        raise ValueError("the review queue needs at least one sensitive attribute to stratify by")
    strata = _strata(corpus, attributes)
    rows, sizes, dropped = build_queue(ctx, strata)
    queue_csv = queue_html = None
    if ctx.out_dir is not None:
        queue_csv = str(write_queue_csv(rows, ctx.out_dir / "review_queue.csv"))
        page = render_review_page(rows, title=f"Review queue for {Path(corpus.corpus_path).name}",
                                  precision=cfg.precision)
        queue_html = str(atomic_write_text(ctx.out_dir / "review.html", page))
    verdicts = read_verdicts(cfg.verdicts) if cfg.verdicts else {}
    key_index = {k: i for i, k in enumerate(corpus.keys)}
    unknown = [k for k in verdicts if k not in key_index]
    if unknown:
        raise ValueError(
            f"{cfg.verdicts}: {len(unknown)} verdict key(s) are not in the corpus, e.g. {unknown[:3]}"
        )
    sampled_keys = {r["key"] for r in rows if r["selection"] == "sample"}
    flagged_keys = {r["key"] for r in rows if r["selection"] == "flagged"}
    stratum = strata.of_image[corpus.image]
    reviewed = np.zeros(corpus.n_pairs, dtype=bool)
    error = np.zeros(corpus.n_pairs, dtype=bool)
    for key, verdict in verdicts.items():
        reviewed[key_index[key]] = True
        error[key_index[key]] = verdict == "error"
    in_sample = np.zeros(corpus.n_pairs, dtype=bool)
    in_sample[[key_index[k] for k in sampled_keys]] = True
    # A verdict on an item outside this queue's sample (an earlier queue) still counts when
    # it was drawn at random: only flagged items are excluded from the error rate.
    random_reviewed = reviewed & ~np.isin(np.arange(corpus.n_pairs), [key_index[k] for k in flagged_keys])
    strata_rows = []
    for code, name in enumerate(strata.names):
        inside = stratum == code
        strata_rows.append(ReviewedGroup(
            stratum=name, n_population=int(inside.sum()), n_sampled=sizes.get(name, 0),
            n_reviewed=int((inside & random_reviewed).sum()),
            n_errors=int((inside & random_reviewed & error).sum()),
        ))  # fmt: skip
    table = _reviewed_table(strata, stratum, random_reviewed, error, ctx.config.min_group_n) if reviewed.any() else None
    n_sampled = len(sampled_keys)
    sampled_done = int((in_sample & reviewed).sum())
    return ReviewResult(
        stratify_by=attributes,
        precision=cfg.precision,
        queue_csv=queue_csv,
        queue_html=queue_html,
        n_queued=len(rows),
        n_sampled=n_sampled,
        n_flagged=len(flagged_keys),
        n_flagged_dropped=dropped,
        verdicts_file=str(cfg.verdicts) if cfg.verdicts else None,
        n_checked=int(reviewed.sum()),
        n_errors=int((reviewed & error).sum()),
        n_flagged_confirmed=sum(1 for k in flagged_keys if verdicts.get(k) == "error"),
        required=cfg.require,
        required_n=n_sampled if cfg.require else 0,
        shortfall=max(0, n_sampled - sampled_done) if cfg.require else None,
        strata=strata_rows,
        reviewed=table,
    )


def _reviewed_table(
    strata: GroupColumn, stratum: np.ndarray, reviewed: np.ndarray, error: np.ndarray, min_n: int
) -> RateTable:
    """Reviewed error rate per stratum: each reviewed answer is its own unit (Wilson)."""
    overall = proportion_estimate(float((reviewed & error).sum()), float(reviewed.sum()))
    groups: dict[str, GroupRate] = {}
    for code, name in enumerate(strata.names):
        inside = reviewed & (stratum == code)
        rest = reviewed & (stratum != code) & (stratum >= 0)
        n = int(inside.sum())
        if n == 0:
            continue
        rate = proportion_estimate(float((inside & error).sum()), float(n))
        vs_rest: Estimate | None = None
        if rest.any():
            ones = lambda k: np.ones(k)  # noqa: E731  one answer per cluster: no design effect
            vs_rest = _difference(error[inside].astype(float), ones(n),
                                  error[rest].astype(float), ones(int(rest.sum())), n)
        groups[strata.key(code)] = GroupRate(
            attribute=strata.attribute, group=name, n_pairs=n, rate=rate, vs_rest=vs_rest,
            small_group=n < min_n,
        )  # fmt: skip
    return RateTable(
        description="share of reviewed answers (random sample only) a human judged wrong",
        overall=overall,
        groups=groups,
    )


__all__ = ["build_queue", "read_verdicts", "render_review_page", "sample_size"]

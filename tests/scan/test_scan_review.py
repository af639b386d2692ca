"""The review loop: sample sizes, the queue (CSV + page), verdicts back in, the opt-in requirement."""

from __future__ import annotations

import csv

import pytest
from scan_support import random_corpus

from faceaudit.scan.config import ReviewConfig, ScanConfig
from faceaudit.scan.review import read_verdicts, sample_size
from faceaudit.scan.stage import run_scan
from faceaudit.scan.table import build_scan_corpus

HOSTILE = '=HYPERLINK("http://x") <script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def test_sample_size_bounds_the_error_rate_to_the_stated_precision():
    assert sample_size(0.05) == 385 and sample_size(0.10) == 97
    assert sample_size(0.10, population=100) == 97
    assert sample_size(0.10, population=20) == 20 and sample_size(0.10, population=0) == 0
    assert sample_size(0.05, expected=0.1) == 139


def _scan(tmp_path, c, **review):
    cfg = ScanConfig(min_group_n=5, review=ReviewConfig(**review))
    return run_scan(c, cfg, out_dir=tmp_path, seed=3)


def test_queue_has_a_sample_per_group_and_every_flagged_item(tmp_path):
    c = random_corpus(0, images_per_group=200, planted=("aggressive", "B", 0.05, 0.05))
    c.answers[7] = HOSTILE + " Mail me at x@y.org."
    section = _scan(tmp_path, c, precision=0.10)
    review = section.review
    rows = list(csv.DictReader((tmp_path / "review_queue.csv").open(encoding="utf-8")))
    per_group = {g: sum(r["selection"] == "sample" and r["stratum"] == g for r in rows) for g in "ABC"}
    assert per_group == {g: sample_size(0.10, population=200) for g in "ABC"}
    flagged = {r["key"] for r in rows if r["selection"] == "flagged"}
    threat = {c.keys[i] for i, a in enumerate(c.answers) if "aggressive" in a or "x@y.org" in a}
    sampled = {r["key"] for r in rows if r["selection"] == "sample"}
    assert flagged == threat - sampled and review.n_flagged == len(flagged)
    hostile = next(r for r in rows if r["key"] == c.keys[7])
    assert hostile["answer"].startswith("'=HYPERLINK")  # a spreadsheet will not run it
    assert "personal data" in hostile["reasons"]
    page = (tmp_path / "review.html").read_text(encoding="utf-8")
    assert "<script>window.__pwned" not in page and "&lt;script&gt;window.__pwned" in page
    assert page.count("<script>") == 1 and "script-src 'sha256-" in page
    assert review.n_checked == 0 and review.reviewed is None and review.shortfall is None


def test_verdicts_come_back_as_error_rates_per_group_and_satisfy_the_requirement(tmp_path):
    c = random_corpus(0, images_per_group=60)
    first = _scan(tmp_path, c, precision=0.25, require=True)
    assert first.review.required and first.review.shortfall == first.review.n_sampled > 0
    rows = list(csv.DictReader((tmp_path / "review_queue.csv").open(encoding="utf-8")))
    verdicts = tmp_path / "verdicts.csv"
    with verdicts.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key", "verdict", "note"])
        for r in rows:  # the reviewer finds every sampled answer of group C wrong
            writer.writerow([r["key"], "error" if r["stratum"] == "C" else "ok", ""])
    second = _scan(tmp_path / "again", c, precision=0.25, require=True, verdicts=str(verdicts))
    review = second.review
    assert review.n_checked == len(rows) and review.shortfall == 0
    groups = review.reviewed.groups
    assert groups["race=C"].rate.value == 1.0 and groups["race=A"].rate.value == 0.0
    assert groups["race=C"].rate.lower > 0.7 and groups["race=C"].vs_rest.p_value < 0.001
    assert sum(s.n_reviewed for s in review.strata) == review.n_sampled


def test_bad_verdicts_are_refused_with_file_row_and_accepted_values(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("key,verdict\nA1:x,ok\nA2:x,maybe\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"v.csv: row 3 \(key 'A2:x'\): verdict 'maybe' is not one of"):
        read_verdicts(path)
    path.write_text("id,label\n", encoding="utf-8")
    with pytest.raises(ValueError, match="needs the columns 'key' and 'verdict'"):
        read_verdicts(path)
    c = build_scan_corpus([{"image_id": "i", "aspect": "a", "answer": "x."}], {"i": {"race": "A"}}, ["race"])
    path.write_text("key,verdict\nnot-in-corpus,ok\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not in the corpus"):
        run_scan(c, ScanConfig(review=ReviewConfig(verdicts=str(path))), out_dir=tmp_path / "o")

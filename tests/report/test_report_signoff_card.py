"""Sign-off and model card from YAML: validated field by field, printed, FairFace attribution carried."""

from __future__ import annotations

import sys
from html import unescape
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gate"))
import audit_factory as f  # noqa: E402

from faceaudit.cli import main  # noqa: E402
from faceaudit.errors import EXIT_USAGE, InputError  # noqa: E402
from faceaudit.gate import evaluate_gate, load_policy  # noqa: E402
from faceaudit.report import render_html  # noqa: E402
from faceaudit.report.card import FAIRFACE_ATTRIBUTION  # noqa: E402
from faceaudit.report.inputs import load_card, load_signoff, report_inputs  # noqa: E402

SIGNOFF = """\
reviewer: Jane Doe
role: Compliance officer
date: 2026-12-02
decision: approved
comments: Ship to the pilot site only.
"""


def judged(**sections):
    result = f.audit(tasks=[f.fair_task(vs_rest=(-0.25, -0.32, -0.18, 300))], **sections)
    row = next(d for d in result.evaluation.tasks[0].disparities if d.kind == "group_vs_rest")
    row.estimate.p_value = row.p_value = 1e-9
    return result.model_copy(update={"gate": evaluate_gate(result, load_policy(None))})


def test_signoff_yaml_fills_the_block_and_flags_an_approval_the_gate_blocks(tmp_path):
    path = tmp_path / "signoff.yaml"
    path.write_text(SIGNOFF)
    result = judged()
    assert result.gate.verdict == "FAIL"
    html = render_html(result, **report_inputs(signoff=path))
    block = unescape(html[html.index('id="h-signoff"'): html.index("Who, what, when")])
    for text in ("Jane Doe", "Compliance officer", "2026-12-02", "<strong>approved</strong>",
                 "Ship to the pilot site only.", "Filled from signoff.yaml (SHA-256 "):
        assert text in block
    assert ("The reviewer approved a release that the gate's verdict (FAIL) blocks.") in block
    blank = render_html(result)
    block = blank[blank.index('id="h-signoff"'): blank.index("Who, what, when")]
    assert "Not signed yet" in block and "☐ approved with conditions" in block and "Jane" not in block


@pytest.mark.parametrize(("text", "message"), [
    (SIGNOFF.replace("decision: approved", "decision: ok"), "decision: Input should be 'approved'"),
    (SIGNOFF.replace("role: Compliance officer\n", ""), "role: Field required"),
    (SIGNOFF + "signature: JD\n", "signature: unknown field"),
    (SIGNOFF.replace("2026-12-02", "2026-13-02"), "not valid YAML"),
    ("- just a list\n", "must be a YAML mapping"),
])
def test_bad_signoff_names_the_file_and_field(tmp_path, text, message):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_signoff(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_cli_report_with_bad_signoff_exits_3_and_writes_nothing(tmp_path, capsys):
    audit = tmp_path / "audit.json"
    audit.write_text(judged().model_dump_json())
    bad = tmp_path / "s.yaml"
    bad.write_text(SIGNOFF.replace("reviewer: Jane Doe\n", ""))
    assert main(["report", str(audit), "--signoff", str(bad)]) == EXIT_USAGE
    assert "reviewer: Field required" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


def test_card_yaml_and_fairface_attribution(tmp_path):
    card = tmp_path / "card.yaml"
    card.write_text(
        "intended_use: Checking helmet use at factory gates\n"
        "out_of_scope_uses: [Identifying people]\n"
        "licences: [{what: the adapter, licence: MIT}]\n"
        "datasheet: {motivation: Release audit sample}\n"
    )
    assert load_card(card).intended_use == ["Checking helmet use at factory gates"]
    fairface = dict(f.BASE["dataset"], name="fairface", kind="fairface", root="../shared/data/fairface")
    html = render_html(judged(dataset=fairface), **report_inputs(card=card))
    section = unescape(html[html.index('id="model-card"'): html.index('id="gate"')])
    for text in ("Checking helmet use at factory gates", "Identifying people", "the adapter",
                 "Release audit sample", "Inferring a person's race, ethnicity, gender or age from a face image "
                 "is not an intended use", "CC BY 4.0", "stated by the model's owner in card.yaml"):
        assert (text) in section, text
    assert (FAIRFACE_ATTRIBUTION) in section
    # synthetic data: no FairFace attribution, and owner fields say they were not stated
    plain = render_html(judged())
    section = unescape(plain[plain.index('id="model-card"'): plain.index('id="gate"')])
    assert "Kärkkäinen" not in section and ("Not stated by the model's owner.") in section
    assert ("for the model's owner to state") in section


def test_card_rejects_unknown_fields(tmp_path):
    card = tmp_path / "card.yaml"
    card.write_text("intended_uses: [typo]\n")
    with pytest.raises(InputError, match="intended_uses: unknown field"):
        load_card(card)



def test_cli_records_the_signoff_beside_the_report_and_leaves_audit_json_alone(tmp_path, capsys):
    import json

    from faceaudit.schema import AuditResult
    from faceaudit.store import sha256_file

    audit = judged().save(tmp_path / "audit.json")
    before = audit.read_bytes()
    signoff = tmp_path / "signoff.yaml"
    signoff.write_text(SIGNOFF)
    assert main(["--quiet", "report", str(audit), "--signoff", str(signoff)]) == 0
    record_file = tmp_path / "report.signoff.json"
    assert f"signoff: {record_file}" in capsys.readouterr().out
    assert audit.read_bytes() == before  # the evidence is not edited by signing it
    record = json.loads(record_file.read_text())
    assert record["signoff"] == {"reviewer": "Jane Doe", "role": "Compliance officer", "date": "2026-12-02",
                                 "decision": "approved", "comments": "Ship to the pilot site only.", "conditions": []}
    assert record["source"] == "signoff.yaml" and record["source_sha256"] == sha256_file(signoff)
    assert record["audit"] == "audit.json" and record["audit_sha256"] == sha256_file(audit)
    assert record["verdict"] == "FAIL" and record["policy_sha256"] == AuditResult.load(audit).gate.policy_sha256
    report = tmp_path / "report.html"
    assert record["report"] == "report.html" and record["report_sha256"] == sha256_file(report)
    shown = unescape(report.read_text())
    assert (f"Recorded in report.signoff.json beside this report, with the SHA-256 of the audit.json it signs "
            f"({sha256_file(audit)}) and of this page.") in shown
    # regenerating from the same files gives the same report and the same record, byte for byte
    first = (report.read_bytes(), record_file.read_bytes())
    assert main(["--quiet", "report", str(audit), "--signoff", str(signoff)]) == 0
    assert (report.read_bytes(), record_file.read_bytes()) == first


def test_cli_report_with_policy_records_the_audit_json_as_written_back(tmp_path):
    import json

    from faceaudit.store import sha256_file

    audit = judged().model_copy(update={"gate": None}).save(tmp_path / "audit.json")
    signoff = tmp_path / "signoff.yaml"
    signoff.write_text(SIGNOFF.replace("decision: approved", "decision: rejected"))
    assert main(["--quiet", "report", str(audit), "--policy", "faceaudit/gate/policy-default.yaml",
                 "--signoff", str(signoff)]) == 0
    record = json.loads((tmp_path / "report.signoff.json").read_text())
    assert record["verdict"] == "FAIL" and record["signoff"]["decision"] == "rejected"
    assert record["audit_sha256"] == sha256_file(audit)  # hashed after the verdict was stored
    assert not (tmp_path / "unsigned.signoff.json").exists()
    assert main(["--quiet", "report", str(audit), "-o", str(tmp_path / "unsigned.html")]) == 0
    assert not (tmp_path / "unsigned.signoff.json").exists()


def test_a_report_rerendered_without_the_signoff_moves_the_stale_record_aside(tmp_path, capsys):
    """`faceaudit gate` re-renders report.html unsigned: the record beside it would vouch for a
    page that is gone, so it is kept under a superseded name, never under the report's."""
    audit = judged().save(tmp_path / "audit.json")
    signoff = tmp_path / "signoff.yaml"
    signoff.write_text(SIGNOFF)
    assert main(["--quiet", "report", str(audit), "--signoff", str(signoff)]) == 0
    record = tmp_path / "report.signoff.json"
    signed = record.read_bytes()
    from faceaudit.store import sha256_file

    capsys.readouterr()
    assert main(["--quiet", "gate", str(audit)]) == 1  # the verdict is FAIL; report.html re-rendered
    assert not record.exists()
    moved = tmp_path / f"report.signoff.superseded-{sha256_file(audit)[:12]}.json"
    assert not moved.exists()  # named after the audit.json that was signed, which gate rewrote
    (kept,) = tmp_path.glob("report.signoff.superseded-*.json")
    assert kept.read_bytes() == signed
    assert "Jane Doe" not in (tmp_path / "report.html").read_text()
    assert f"the record was moved to {kept.name}" in capsys.readouterr().err  # shown even with --quiet
    # Signing again writes a fresh record; the superseded one stays.
    assert main(["--quiet", "report", str(audit), "--signoff", str(signoff)]) == 0
    assert record.is_file() and kept.read_bytes() == signed


def test_signing_with_a_policy_keeps_its_own_record_and_says_nothing_is_lost(tmp_path, capsys):
    """`report --signoff --policy` stores the verdict and signs in one command: the report it
    signs is not first re-rendered unsigned (which moved its own record aside with a warning to
    sign again). A rerun judges again; when that changed audit.json (the verdict's time, to the
    second, is part of it) the earlier record is kept as superseded, quietly, since it was just
    replaced."""
    audit = judged().model_copy(update={"gate": None}).save(tmp_path / "audit.json")
    signoff = tmp_path / "signoff.yaml"
    signoff.write_text(SIGNOFF)
    command = ["--quiet", "report", str(audit), "--policy", "faceaudit/gate/policy-default.yaml",
               "--signoff", str(signoff)]
    for superseded in (0, 1):
        capsys.readouterr()
        assert main(command) == 0
        assert "no longer shows the sign-off" not in capsys.readouterr().err
        assert (tmp_path / "report.signoff.json").is_file()
        assert len(list(tmp_path.glob("report.signoff.superseded-*.json"))) <= superseded

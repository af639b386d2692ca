"""Every YAML a user hands us refuses a key written twice (safe_load would keep the last)."""

from __future__ import annotations

import pytest

from faceaudit.config import ConfigError, load_config
from faceaudit.errors import InputError
from faceaudit.gate import PolicyError, parse_policy
from faceaudit.yaml_io import load_yaml

TWICE = """name: p
version: '1'
checks:
  - id: floor
    description: every group at least 0.5
    path: evaluation.tasks.*.groups.*.metrics.accuracy
    operator: at_least
    limit: 0.5
    side: lower
    severity: warning
    severity: blocking
"""


def test_a_policy_with_a_key_written_twice_is_refused_with_its_line():
    with pytest.raises(PolicyError, match=r"p\.yaml: not valid YAML: key 'severity' appears twice in one "
                                          r"mapping \(first on line 10\)[\s\S]*line 11"):
        parse_policy(TWICE.encode(), "p.yaml")


def test_a_config_with_a_section_written_twice_is_refused(tmp_path):
    path = tmp_path / "audit.yaml"
    path.write_text("seed: 1\nevaluate:\n  n_boot: 10\nseed: 2\n")
    with pytest.raises(ConfigError, match="key 'seed' appears twice"):
        load_config(path)


def test_merge_keys_may_be_overridden_and_values_keep_their_types():
    assert load_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n", "m.yaml")["c"] == {"x": 1, "y": 3}
    assert load_yaml("a: [1, 2.5, true, null]\n", "t.yaml") == {"a": [1, 2.5, True, None]}


def test_python_tags_and_impossible_dates_are_input_errors():
    with pytest.raises(InputError, match="x.yaml: not valid YAML"):
        load_yaml("a: !!python/object/apply:os.system ['true']\n", "x.yaml")
    with pytest.raises(InputError, match="d.yaml: not valid YAML"):
        load_yaml("date: 2026-13-01\n", "d.yaml")


def test_a_data_set_sidecar_keeps_labels_as_strings_and_refuses_a_repeated_key(tmp_path):
    from faceaudit.data.dataset import DatasetError
    from faceaudit.data.manifest import read_sidecar

    assert load_yaml("labels: {smiling: [yes, no]}\nn: 1\n", "s.yaml", strings=True) == {
        "labels": {"smiling": ["yes", "no"]}, "n": "1"}
    sidecar = tmp_path / "dataset.yaml"
    sidecar.write_text("name: a\nname: b\n")
    with pytest.raises(DatasetError, match="key 'name' appears twice"):
        read_sidecar(sidecar)
    sidecar.write_text("name: a\nsensitive_attributes: x\nbogus: 1\n")
    with pytest.raises(DatasetError, match=r"invalid data set sidecar .*dataset\.yaml:\n  "):
        read_sidecar(sidecar)

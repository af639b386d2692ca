"""AuditConfig: embedded default, YAML, overrides and the wording of errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceaudit.config import AuditConfig, ConfigError, default_config, load_config


def test_embedded_default_needs_no_files() -> None:
    config = load_config()
    assert config == default_config()
    assert config.dataset.kind == "synthetic"
    assert config.corpus.backend == "template"
    assert config.train.recipe == "tiny"


def test_yaml_and_overrides_compose(tmp_path: Path) -> None:
    path = tmp_path / "audit.yaml"
    path.write_text("seed: 7\ndataset:\n  kind: synthetic\n  synthetic:\n    n: 300\n")
    config = load_config(path, ["dataset.synthetic.n=400", "corpus.enabled=false", "name=pilot"])
    assert (config.seed, config.dataset.synthetic.n, config.corpus.enabled, config.name) == (7, 400, False, "pilot")


def test_override_values_get_yaml_types() -> None:
    config = load_config(overrides=["dataset.sensitive_attributes=[gender, age]", "dataset.limit=null"])
    assert config.dataset.sensitive_attributes == ["gender", "age"]
    assert config.dataset.limit is None


def test_errors_name_the_field_and_the_accepted_values() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(overrides=["dataset.kind=fairfac", "seed=-1", "colour=blue"])
    message = str(caught.value)
    assert "dataset.kind: unknown dataset kind 'fairfac'; accepted: synthetic, fairface, manifest, facexbench" in message
    assert "got 'fairfac'" in message
    assert "seed: Input should be greater than or equal to 0; got -1" in message
    assert "colour: unknown field" in message


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("dataset: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_config(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: the top level must be a mapping"):
        load_config(listing)
    with pytest.raises(ConfigError, match=r"cannot read config .*missing\.yaml"):
        load_config(tmp_path / "missing.yaml")


def test_malformed_override_is_explained() -> None:
    with pytest.raises(ConfigError, match=r"must look like section\.field=value"):
        load_config(overrides=["dataset.n"])
    with pytest.raises(ConfigError, match=r"seed: Input should be a valid integer"):
        load_config(overrides=["seed.x=1"])
    with pytest.raises(ConfigError, match=r"'split' is not a section"):
        load_config(overrides=["dataset.split=a", "dataset.split.x=1"])


def test_config_round_trips_through_its_own_dump() -> None:
    config = load_config(overrides=["dataset.synthetic.n=321"])
    assert AuditConfig.model_validate(config.model_dump(mode="json")) == config

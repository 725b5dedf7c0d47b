"""Config loading and validation errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offline.params import ALL_MODELS
from online.experiments.config import (
    ExperimentConfigError,
    dump_config,
    load_config_file,
    parse_config_text,
    parse_experiments,
)

from .conftest import ab_experiment, interleaving_experiment

REPO = Path(__file__).resolve().parents[2]


def _raw(**overrides: object) -> dict:
    raw = ab_experiment().model_dump(mode="json")
    raw.update(overrides)
    return raw


def test_repo_default_config_is_valid() -> None:
    experiments = load_config_file(REPO / "experiments.yaml")
    enabled = [e for e in experiments if e.enabled]
    assert len(enabled) == 1 and enabled[0].type == "ab"
    assert len(enabled[0].variants) == 2
    assert {v.model for v in enabled[0].variants} <= set(ALL_MODELS)
    assert [e.type for e in experiments if not e.enabled] == ["interleaving"]


def test_yaml_and_json_round_trip(tmp_path: Path) -> None:
    experiments = [ab_experiment(), interleaving_experiment(enabled=False)]
    text = dump_config(experiments)
    (tmp_path / "exp.json").write_text(text)
    assert load_config_file(tmp_path / "exp.json") == experiments
    (tmp_path / "exp.yaml").write_text("- " + json.dumps(experiments[0].model_dump(mode="json")))
    assert load_config_file(tmp_path / "exp.yaml") == experiments[:1]
    assert parse_config_text("experiments: []") == []
    assert parse_config_text("") == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_raw(variants=[{"name": "a", "weight": 60}, {"name": "b", "weight": 30}]), "weights must sum to 100, got 90"),
        (_raw(variants=[{"name": "a", "weight": 50}, {"name": "a", "weight": 50}]), "duplicate variant names"),
        (_raw(name="bad name:x"), "name must match"),
        (_raw(salt="  "), "salt must not be empty"),
        (_raw(variants=[{"name": "a", "weight": 100, "model": "gbdt"}]), "unknown model 'gbdt'"),
        (_raw(variants=[{"name": "a", "weight": 100, "recall": {"popular": -1}}]), "popular=-1"),
        (_raw(variants=[{"name": "_x", "weight": 100}]), "variant name '_x'"),
        (_raw(type="interleaving", variants=[{"name": "a", "weight": 50, "model": "din"},
                                             {"name": "b", "weight": 50, "model": "din"}]), "two different ranking models"),
        (_raw(type="interleaving", variants=[{"name": "a", "weight": 50, "model": "din"},
                                             {"name": "b", "weight": 50}]), "two different ranking models"),
        (_raw(type="interleaving", variants=[{"name": "a", "weight": 100, "model": "din"}]), "exactly 2 variants"),
        (_raw(variants=[]), "variants"),
        (_raw(variants=[{"name": "a", "weight": 120}]), "weight"),
        (_raw(traffic=150), "traffic"),
        (_raw(type="bandit"), "type"),
    ],
)
def test_validation_errors_name_the_problem(raw: dict, message: str) -> None:
    with pytest.raises(ExperimentConfigError, match="experiment ") as info:
        parse_experiments([raw])
    assert message in str(info.value)
    assert info.value.status == 422


def test_duplicate_experiment_names() -> None:
    with pytest.raises(ExperimentConfigError, match="duplicate experiment name"):
        parse_experiments([_raw(), _raw()])


def test_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ExperimentConfigError, match="cannot read"):
        load_config_file(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("experiments: [unclosed")
    with pytest.raises(ExperimentConfigError, match="not valid YAML"):
        load_config_file(tmp_path / "bad.yaml")
    with pytest.raises(ExperimentConfigError, match="key 'experiments'"):
        parse_config_text("other: 1")
    with pytest.raises(ExperimentConfigError, match="must be a list"):
        parse_config_text("experiments: 3")

"""The registry with in-memory counters: assignment, exposure/click counting, reports, config changes."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from online import schemas
from online.experiments import (
    Assignment,
    ExperimentConfigError,
    ExperimentNotFound,
    ExperimentRegistry,
    InMemoryCounters,
)
from online.experiments import stats as exp_stats
from online.experiments.bucketing import bucket
from online.experiments.interleaving import team_draft
from sparrow.settings import Settings

from .conftest import ab_experiment


def registry(*experiments: schemas.Experiment, share: float = 0.0) -> ExperimentRegistry:
    return ExperimentRegistry(list(experiments), InMemoryCounters(), exploration_share=share)


def test_assignment_follows_bucket_and_variant_fields(ab: schemas.Experiment) -> None:
    reg = registry(ab)
    for user in range(1, 300):
        a = reg.assign(user)
        assert a is not None and a.experiment == "rank-ab" and a.user_id == user
        expected = "deepfm" if bucket("s1", user) < 50 else "emb_mlp"
        assert a.variant == expected and a.model == expected and a.bucket == bucket("s1", user)
        assert a.interleave_with is None
        if expected == "emb_mlp":
            assert a.recall == {"popular": 10} and a.ann_index == "flat"
        else:
            assert a.recall is None and a.ann_index is None
    assert reg.assign(7) == registry(ab).assign(7)  # a fresh registry (restart) agrees


def test_disabled_experiment_assigns_nobody(ab: schemas.Experiment) -> None:
    ab.enabled = False
    assert registry(ab).assign(1) is None
    assert registry().assign(1) is None


def test_first_enabled_experiment_within_its_traffic_applies() -> None:
    half = ab_experiment(name="first", salt="f", traffic=50)
    rest = ab_experiment(name="second", salt="g")
    reg = registry(half, rest)
    names = Counter(reg.assign(u).experiment for u in range(1, 4001))  # type: ignore[union-attr]
    assert 0.45 < names["first"] / 4000 < 0.55 and names["first"] + names["second"] == 4000
    off = ab_experiment(name="off", salt="o", enabled=False)
    assert {registry(off, rest).assign(u).experiment for u in range(1, 50)} == {"second"}  # type: ignore[union-attr]


def test_interleaving_assignment(interleaved: schemas.Experiment) -> None:
    a = registry(interleaved).assign(3)
    assert a is not None
    assert (a.type, a.variant, a.model, a.interleave_with, a.teams) == (
        "interleaving", "interleaved", "deepfm", "din", ("deepfm", "din"))


def _user_in(reg: ExperimentRegistry, variant: str) -> Assignment:
    for user in range(1, 1000):
        a = reg.assign(user)
        if a is not None and a.variant == variant:
            return a
    raise AssertionError(variant)


def test_ab_counts_and_report(ab: schemas.Experiment) -> None:
    reg = registry(ab)
    a, b = _user_in(reg, "deepfm"), _user_in(reg, "emb_mlp")
    reg.record_exposure(a, [1, 2, 3, 4])
    reg.record_exposure(a, [5, 6])  # a second page: both lists stay clickable
    reg.record_exposure(b, [1, 2, 3, 4, 5])
    assert reg.record_event("rank-ab", "deepfm", 2, "click", user_id=a.user_id) == "deepfm"
    assert reg.record_event("rank-ab", None, 6, "rating", user_id=a.user_id) == "deepfm"
    assert reg.record_event("rank-ab", "deepfm", 2, "click", user_id=a.user_id) is None  # same shown item twice
    assert reg.record_event("rank-ab", "deepfm", 99, "click", user_id=a.user_id) is None  # never shown
    assert reg.record_event("rank-ab", "deepfm", 3, "view", user_id=a.user_id) is None  # views are not clicks
    # the variant that showed the movie is credited, whatever the client claims
    assert reg.record_event("rank-ab", "deepfm", 1, "click", user_id=b.user_id) == "emb_mlp"
    # without a user the variant as given is counted; unknown experiments are ignored
    assert reg.record_event("rank-ab", "emb_mlp", 5, "click") == "emb_mlp"
    assert reg.record_event("nope", "x", 5, "click", user_id=1) is None
    report = reg.report("rank-ab")
    rows = {r.name: r for r in report.variants}
    assert (rows["deepfm"].exposures, rows["deepfm"].clicks) == (6, 2)
    assert (rows["emb_mlp"].exposures, rows["emb_mlp"].clicks) == (5, 2)
    assert rows["deepfm"].ctr == pytest.approx(2 / 6)
    assert (rows["deepfm"].ci_low, rows["deepfm"].ci_high) == pytest.approx(exp_stats.wilson_interval(2, 6))
    assert report.p_value == pytest.approx(exp_stats.two_proportion_z_test(2, 5, 2, 6))
    assert rows["emb_mlp"].p_value == report.p_value and rows["deepfm"].p_value is None
    assert report.type == "ab" and "z-test" in (report.test or "")


def test_event_without_experiment_uses_the_users_assignment(ab: schemas.Experiment) -> None:
    reg = registry(ab)
    a = reg.assign(11)
    assert a is not None
    reg.record_exposure(a, [10, 20])
    assert reg.record_event(None, None, 20, "click", user_id=11) == a.variant
    assert reg.record_event(None, None, 20, "click") is None


def test_interleaving_credit_and_wins(interleaved: schemas.Experiment) -> None:
    reg = registry(interleaved)
    rng = random.Random(0)
    # user 1: clicks two team-A items -> A wins; user 2: one B click -> B wins; user 3: one each -> tie
    outcomes = {}
    for user, clicks in ((1, "AA"), (2, "B"), (3, "AB"), (4, "")):
        a = reg.assign(user)
        assert a is not None
        merged, teams = team_draft([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], 6, rng)
        reg.record_exposure(a, merged, teams)
        by_team = {t: [m for m in merged if teams[m] == t] for t in "AB"}
        for i, team in enumerate(clicks):
            movie = by_team[team][clicks[:i].count(team)]
            credited = reg.record_event(a.experiment, a.variant, movie, "click", user_id=user)
            assert credited == ("deepfm" if team == "A" else "din")
        outcomes[user] = clicks
    report = reg.report("rank-il")
    rows = {r.name: r for r in report.variants}
    assert (rows["deepfm"].clicks, rows["din"].clicks) == (3, 2)
    assert (rows["deepfm"].wins, rows["din"].wins, report.ties, report.impressions) == (1, 1, 1, 4)
    assert rows["deepfm"].exposures + rows["din"].exposures == 24
    assert report.p_value == pytest.approx(exp_stats.sign_test(1, 1))
    assert report.type == "interleaving" and "sign test" in (report.test or "")


def test_interleaving_exposure_needs_teams(interleaved: schemas.Experiment) -> None:
    reg = registry(interleaved)
    with pytest.raises(ValueError, match="teams"):
        reg.record_exposure(reg.assign(1), [1, 2])


def test_a_new_impression_starts_a_new_tally(interleaved: schemas.Experiment) -> None:
    reg = registry(interleaved)
    a = reg.assign(5)
    assert a is not None
    reg.record_exposure(a, [1, 2], {1: "A", 2: "B"})
    reg.record_event(a.experiment, None, 1, "click", user_id=5)
    reg.record_exposure(a, [3, 4], {3: "A", 4: "B"})
    assert reg.record_event(a.experiment, None, 1, "click", user_id=5) is None  # old list is gone
    reg.record_event(a.experiment, None, 4, "click", user_id=5)
    rows = {r.name: r for r in reg.report("rank-il").variants}
    assert (rows["deepfm"].wins, rows["din"].wins) == (1, 1)  # one impression each, not a tie


def test_report_unknown_experiment() -> None:
    with pytest.raises(ExperimentNotFound) as info:
        registry().report("missing")
    assert info.value.status == 404 and isinstance(info.value, LookupError)


def test_empty_report_is_well_formed(ab: schemas.Experiment) -> None:
    report = registry(ab).report("rank-ab")
    assert report.p_value is None
    assert all((r.exposures, r.clicks, r.ctr, r.ci_low, r.ci_high) == (0, 0, 0.0, 0.0, 1.0) for r in report.variants)


def test_replace_config_validates_and_applies(ab: schemas.Experiment) -> None:
    reg = registry(ab)
    bad = ab_experiment(weights=(50, 40))
    with pytest.raises(ExperimentConfigError, match="sum to 100"):
        reg.replace_config([bad])
    assert reg.experiments() == [ab]
    new = ab_experiment(name="other", salt="z", weights=(100, 0))
    assert reg.replace_config([new]) == [new]
    assert {reg.assign(u).variant for u in range(1, 100)} == {"deepfm"}  # type: ignore[union-attr]
    with pytest.raises(ExperimentNotFound):
        reg.report("rank-ab")


def test_exploration_counters_and_wrapper(ab: schemas.Experiment) -> None:
    reg = registry(ab, share=0.2)
    reg.record_exposure(None, [1, 2, 3])
    reg.record_event(None, None, 2, "click")
    assert reg.movie_stats.counts([1, 2, 9]) == [(1, 0), (1, 1), (0, 0)]
    out = reg.explore(list(range(1, 11)), [50, 51, 52], rng=random.Random(1))
    assert len(out) == 10 and 0 < len(set(out) - set(range(1, 11))) <= 3
    assert registry(ab).explore([1, 2, 3], [50]) == [1, 2, 3]  # share 0: unchanged


def test_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "exp.json"
    cfg.write_text(schemas.Experiment.model_validate(ab_experiment()).model_dump_json().join("[]"))
    reg = ExperimentRegistry.from_settings(Settings(experiments_file=cfg, exploration_share=0.1), None)
    assert [e.name for e in reg.experiments()] == ["rank-ab"] and reg.exploration_share == 0.1
    assert isinstance(reg.counters, InMemoryCounters)
    monkeypatch.chdir(tmp_path)  # no experiments.yaml here: no experiments
    assert ExperimentRegistry.from_settings(Settings(), None).experiments() == []
    (tmp_path / "experiments.yaml").write_text("experiments:\n  - {name: x, salt: y, variants: [{name: v, weight: 100}]}\n")
    assert [e.name for e in ExperimentRegistry.from_settings(Settings(), None).experiments()] == ["x"]
    with pytest.raises(ExperimentConfigError, match="cannot read"):
        ExperimentRegistry.from_settings(Settings(experiments_file=tmp_path / "nope.yaml"), None)

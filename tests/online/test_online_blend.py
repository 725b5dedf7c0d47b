"""The final blend (model probability x popularity prior), item2item's list preference, itemcf on the API."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, get_args

import numpy as np
import pytest

from online import pipeline
from online.ranking import blend
from online.ranking.blend import blend_scores, blended_order, popularity_prior
from online.recall.channels import SIMILAR_PREFERENCE, RecallContext, item2item_channel
from online.schemas import SimilarModel
from online.store.base import UserState
from sparrow.bundle import ITEMCF_LIST, SIMILAR_LISTS
from sparrow.settings import Settings

# --- blend.py: pure functions ----------------------------------------------------------------------


def test_weight_zero_is_the_model_order_and_scores() -> None:
    rng = np.random.default_rng(3)
    scores = rng.random(50).astype(np.float32)
    popularity = rng.integers(0, 500, 50)
    ids = list(range(100, 150))
    out = blend_scores(scores, popularity, 0.0)
    assert np.array_equal(out, scores)
    assert blended_order(ids, out) == sorted(range(50), key=lambda i: (-scores[i], ids[i]))


def test_blend_is_monotone_in_popularity_and_in_model_score() -> None:
    counts = np.array([0, 1, 5, 50, 500, 5000])
    for weight in (0.25, 0.5, 1.0, 2.0):
        same_score = blend_scores(np.full(counts.size, 0.6), counts, weight)
        assert np.all(np.diff(same_score) > 0), weight  # more popular, same model score: higher
        same_pop = blend_scores(np.linspace(0.1, 0.9, 6), np.full(6, 40), weight)
        assert np.all(np.diff(same_pop) > 0), weight  # same popularity: the model's order
        assert np.all((same_score >= 0) & (same_score <= 1))
    # a heavier weight moves popular movies further up
    scores, pop = np.array([0.9, 0.5]), np.array([10, 1000])
    assert blended_order([1, 2], blend_scores(scores, pop, 0.0)) == [0, 1]
    assert blended_order([1, 2], blend_scores(scores, pop, 1.0)) == [1, 0]


def test_blend_is_the_product_of_probability_and_prior() -> None:
    out = blend_scores([0.5, 0.8, 0.0], [99, 9, 0], 1.0, reference=99)
    assert out == pytest.approx([0.5, 0.8 * 10 / 100, blend.MIN_PROBABILITY * 1 / 100])
    assert popularity_prior([3, 7], 0.5, reference=15) == pytest.approx([0.5, np.sqrt(0.5)])
    assert popularity_prior([3, 7], 0.0).tolist() == [1.0, 1.0]


def test_blend_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="weight"):
        blend_scores([0.5], [1], -1.0)
    with pytest.raises(ValueError, match="shape"):
        blend_scores([0.5, 0.4], [1], 1.0)
    assert blend_scores([], [], 1.0).size == 0


def test_weight_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARROW_RANK_POPULARITY_WEIGHT", "0.25")
    assert Settings().rank_popularity_weight == 0.25
    monkeypatch.setenv("SPARROW_RANK_POPULARITY_WEIGHT", "-1")
    with pytest.raises(ValueError):
        Settings()


# --- the blend inside pipeline.rank ----------------------------------------------------------------


@pytest.fixture(scope="module")
def service(ro_client):  # type: ignore[no-untyped-def]
    return ro_client.app.state.service


def _ranked(service: Any, weight: float, monkeypatch: pytest.MonkeyPatch) -> list[pipeline.Ranked]:
    cat = service.catalog()
    user_id = service.sample_user_ids(1)[0]
    ctx = pipeline.build_context(cat, service._user_state(cat, user_id), "flat")
    candidates = pipeline.recall(ctx, service.settings.recall_quotas, 300, 10)
    return pipeline.rank(cat, ctx, candidates, "deepfm", weight)


def test_rank_blends_model_scores_with_popularity(service, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    cat = service.catalog()
    plain = _ranked(service, 0.0, monkeypatch)
    blended = _ranked(service, 1.0, monkeypatch)
    assert {r.candidate.movie_id for r in plain} == {r.candidate.movie_id for r in blended}
    for ranked in (plain, blended):
        scores = [r.score for r in ranked]
        assert scores == sorted(scores, reverse=True)  # the reported score is the one that orders
    model = {r.candidate.movie_id: r.score for r in plain}
    reference = cat.movies[cat.popular[0]].ratingCount
    for r in blended[:20]:
        prior = ((1 + cat.movies[r.candidate.movie_id].ratingCount) / (1 + reference)) ** 1.0
        assert r.score == pytest.approx(max(model[r.candidate.movie_id], blend.MIN_PROBABILITY) * prior, rel=1e-4)

    def mean_count(ranked: list[pipeline.Ranked]) -> float:
        return float(np.mean([cat.movies[r.candidate.movie_id].ratingCount for r in ranked[:10]]))

    assert mean_count(blended) >= mean_count(plain)


def test_recall_order_is_not_blended(service, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    cat = service.catalog()
    ctx = pipeline.build_context(cat, service._user_state(cat, service.sample_user_ids(1)[0]), "flat")
    candidates = pipeline.recall(ctx, service.settings.recall_quotas, 300, 10)
    ranked = pipeline.rank(cat, ctx, candidates, pipeline.RECALL_SCORE, 5.0)
    assert [r.candidate.movie_id for r in ranked] == [c.movie_id for c in candidates]


# --- item2item prefers itemcf ----------------------------------------------------------------------


def _i2i_ctx(similar: dict[str, dict[int, tuple[list[int], list[float]]]], positives: list[int]) -> RecallContext:
    catalog: Any = SimpleNamespace(similar=similar, movies={})
    return RecallContext(catalog, UserState(1), positives, set(positives))


def test_item2item_uses_itemcf_when_the_bundle_has_it() -> None:
    assert SIMILAR_PREFERENCE[0] == ITEMCF_LIST
    item2vec = {1: ([10, 11], [0.9, 0.8])}
    itemcf = {1: ([20, 21], [0.5, 0.4]), 2: ([21, 22], [0.6, 0.3])}
    got = item2item_channel(_i2i_ctx({"item2vec": item2vec, ITEMCF_LIST: itemcf}, [1, 2]), 10)
    # newer seeds weigh more: 21 = 0.4 + 0.6 / 2, 20 = 0.5, 22 = 0.3 / 2
    assert got == [(21, pytest.approx(0.7)), (20, pytest.approx(0.5)), (22, pytest.approx(0.15))]
    # an older bundle without itemcf (or with an empty one) still recalls from item2vec
    assert [m for m, _ in item2item_channel(_i2i_ctx({"item2vec": item2vec}, [1]), 10)] == [10, 11]
    assert [m for m, _ in item2item_channel(_i2i_ctx({"item2vec": item2vec, ITEMCF_LIST: {}}, [1]), 10)] == [10, 11]


def test_similar_model_names_follow_the_bundle_contract() -> None:
    assert set(get_args(SimilarModel)) == set(SIMILAR_LISTS)
    assert ITEMCF_LIST in SIMILAR_LISTS

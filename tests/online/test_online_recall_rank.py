"""Each recall channel contributes, each index kind serves, and batched ranking equals per-row scoring."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from online import pipeline
from online.recall.channels import (
    CHANNELS,
    RecallContext,
    genre_channel,
    item2item_channel,
    popular_channel,
    top_genres,
)
from online.store.base import UserState
from sparrow.feature_spec import serving_batch


@pytest.fixture(scope="module")
def service(ro_client):  # type: ignore[no-untyped-def]
    return ro_client.app.state.service


def _ctx(service, user_id: int, ann_index: str = "hnsw"):  # type: ignore[no-untyped-def]
    cat = service.catalog()
    return cat, pipeline.build_context(cat, service._user_state(cat, user_id), ann_index)


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_each_channel_contributes_for_a_known_user(service, channel: str) -> None:  # type: ignore[no-untyped-def]
    cat, ctx = _ctx(service, known_user_id(service))
    items = CHANNELS[channel](ctx, 30)
    assert items, channel
    ids = [m for m, _ in items]
    assert len(ids) == len(set(ids)) and all(m in cat.movies for m in ids)
    if channel in ("embedding", "als", "two_tower", "item2item"):
        scores = [s for _, s in items]
        assert scores == sorted(scores, reverse=True)


def known_user_id(service) -> int:  # type: ignore[no-untyped-def]
    return service.sample_user_ids(1)[0]


def test_genre_channel_follows_top_genres(service) -> None:  # type: ignore[no-untyped-def]
    cat, ctx = _ctx(service, known_user_id(service))
    genres = top_genres(ctx)
    assert genres
    assert all(set(cat.movies[m].genres) & set(genres) for m, _ in genre_channel(ctx, 20))


def test_cold_start_only_popular_and_two_tower(service) -> None:  # type: ignore[no-untyped-def]
    cat, ctx = _ctx(service, 88888888)
    assert ctx.positives == [] and CHANNELS["embedding"](ctx, 10) == [] and CHANNELS["item2item"](ctx, 10) == []
    assert [m for m, _ in popular_channel(ctx, 5)] == cat.popular[:5]


@pytest.mark.parametrize("kind", ["flat", "hnsw", "lsh"])
def test_recall_with_each_index_kind(service, kind: str) -> None:  # type: ignore[no-untyped-def]
    cat, ctx = _ctx(service, known_user_id(service), kind)
    candidates = pipeline.recall(ctx, service.settings.recall_quotas, 500, 10)
    assert 100 <= len(candidates) <= 500
    assert not {c.movie_id for c in candidates} & ctx.exclude
    assert any("embedding" in c.channels for c in candidates)
    flat = {m for m, _ in CHANNELS["embedding"](_ctx(service, known_user_id(service), "flat")[1], 20)}
    assert len(flat & {m for m, _ in CHANNELS["embedding"](ctx, 20)}) >= 10


def test_batched_scores_equal_per_row(service) -> None:  # type: ignore[no-untyped-def]
    cat, ctx = _ctx(service, known_user_id(service))
    ids = cat.popular[:40]
    ranker = cat.rankers.get("deepfm")
    batched = ranker.score(serving_batch(ctx.user_features, cat.movie_columns(ids)))
    single = np.array([ranker.score(serving_batch(ctx.user_features, cat.movie_columns([m])))[0] for m in ids])
    assert batched.shape == (40,) and np.allclose(batched, single, atol=1e-5)
    assert np.std(batched) > 0  # the scores depend on the movie


def test_no_model_ranks_by_recall_score(factory_artifacts, synthetic_data, tmp_path, make_client) -> None:  # type: ignore[no-untyped-def]
    from bundle_factory import build_bundle

    build_bundle(synthetic_data, tmp_path / "nomodel", seed=3, with_models=False)
    client = make_client(tmp_path / "nomodel")
    uid = client.app.state.service.sample_user_ids(1)[0]
    body = client.get(f"/api/users/{uid}/recommendations?size=10").json()
    assert body["model"] == "recall_score" and len(body["items"]) == 10
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert client.get(f"/api/users/{uid}/recommendations?model=deepfm").status_code == 422


def test_ranker_down_falls_back_to_recall_order(artifacts_copy, make_client) -> None:  # type: ignore[no-untyped-def]
    from online_helpers import dead_url

    client = make_client(artifacts_copy, tfserving_url=dead_url())
    uid = client.app.state.service.sample_user_ids(1)[0]
    body = client.get(f"/api/users/{uid}/recommendations?size=10").json()
    assert body["model"] == "recall_score" and body["degraded"] is True and len(body["items"]) == 10


def test_user_tower_vector_is_cached_per_feature_values(service) -> None:  # type: ignore[no-untyped-def]
    """The two-tower user vector is computed once per distinct feature values, and changes with them."""
    cat, ctx = _ctx(service, known_user_id(service))
    first = cat.user_tower_vector(ctx.user_features)
    assert first is not None and first.ndim == 1
    assert cat.user_tower_vector(dict(ctx.user_features)) is first  # same values: served from the cache
    changed = dict(ctx.user_features, userRatedMovie1=int(cat.movie_ids[-1]), userAvgRating=1.0)
    other = cat.user_tower_vector(changed)
    assert other is not first and not np.allclose(other, first)


def test_packed_scoring_equals_the_signature_call(service) -> None:  # type: ignore[no-untyped-def]
    """The packed path (catalogue inside TF, one call) gives the exported signature's scores, every model."""
    from online.ranking.ranker import batch_for_rows

    cat, ctx = _ctx(service, known_user_id(service))
    ids = cat.popular[:60]
    rows = cat.rows(ids)
    for name in cat.model_names:
        ranker = cat.rankers.get(name)
        assert ranker._packed is not None, f"{name} fell back to the generic path"
        packed = ranker.score_rows(ctx.user_features, rows, cat.feature_arrays)
        generic = ranker.score(batch_for_rows(ctx.user_features, rows, cat.feature_arrays))
        assert packed.shape == (60,) and np.allclose(packed, generic, atol=1e-6), name
    # a different user gets different scores through the packed user inputs
    other = pipeline.build_context(cat, service._user_state(cat, service.sample_user_ids(2)[1]), "hnsw")
    ranker = cat.rankers.get("deepfm")
    assert not np.allclose(ranker.score_rows(other.user_features, rows, cat.feature_arrays),
                           ranker.score_rows(ctx.user_features, rows, cat.feature_arrays))
    # the user tensors are cached by value: users scored in turn, twice, never get another's inputs
    users = [pipeline.build_context(cat, service._user_state(cat, u), "hnsw").user_features
             for u in service.sample_user_ids(6)]
    for features in users * 2:
        generic = ranker.score(batch_for_rows(features, rows, cat.feature_arrays))
        assert np.allclose(ranker.score_rows(features, rows, cat.feature_arrays), generic, atol=1e-6)


def test_item2item_sums_seed_weighted_similarities_without_the_seen() -> None:
    """Newest seed weighs 1, the next 1/2; seen movies never come back; ties go to the smaller movieId."""
    similar = {"itemcf": {10: ([1, 2, 3, 5], [0.9, 0.5, 0.4, 0.2]), 20: ([2, 4, 1, 6], [0.8, 0.7, 0.1, 0.4])}}
    catalog = SimpleNamespace(similar=similar)
    ctx = RecallContext(catalog, UserState(1), positives=[10, 20, 99], exclude={3})  # type: ignore[arg-type]
    got = item2item_channel(ctx, 4)
    assert [m for m, _ in got] == [1, 2, 4, 5]  # 5 (0.2) and 6 (0.4 / 2) tie: 5 first
    assert got[0][1] == pytest.approx(0.9 + 0.1 / 2) and got[1][1] == pytest.approx(0.5 + 0.8 / 2)
    assert len(item2item_channel(ctx, 10)) == 5 and all(m != 3 for m, _ in item2item_channel(ctx, 10))
    assert item2item_channel(RecallContext(catalog, UserState(1), positives=[99], exclude=set()), 5) == []  # type: ignore[arg-type]


def test_als_folds_in_the_positives_of_a_nearline_only_user(service) -> None:  # type: ignore[no-untyped-def]
    from online.recall.channels import ALS_ITEM

    cat = service.catalog()
    ids, _ = cat.embeddings[ALS_ITEM]
    liked = [int(m) for m in ids[:3]]
    ctx = pipeline.build_context(cat, UserState(77777777, rt_history=liked), "flat")
    got = CHANNELS["als"](ctx, 10)
    # the fold-in vector is the mean of the liked movies' raw factors; the liked ones are never recalled
    raw = cat.raw_embeddings[ALS_ITEM]
    scores = raw @ raw[:3].mean(axis=0)
    scores[:3] = -np.inf
    want = [int(ids[i]) for i in np.argsort(-scores, kind="stable")[:10]]
    assert [m for m, _ in got] == want
    # a user whose positives have no ALS factor gets nothing from the channel (and no error)
    ctx = pipeline.build_context(cat, UserState(77777778, rt_history=[-5, 10**9]), "flat")
    assert CHANNELS["als"](ctx, 10) == []


def test_row_at_matches_the_dense_lookup() -> None:
    from online.catalog import dense_lookup, row_at

    lookup = dense_lookup(np.array([7, 3, 12], dtype=np.int64))
    assert [row_at(lookup, m) for m in (7, 3, 12, 0, 5, 13, -1, 10**9)] == [0, 1, 2, None, None, None, None, None]

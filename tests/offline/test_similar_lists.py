"""Similar lists: LSH top-K with recall against exact search, and the genre list for cold movies."""

from __future__ import annotations

import numpy as np
import pytest

from offline.params import PipelineParams
from offline.similar_lists import GENRE_LIST, build_similar_lists

pytestmark = pytest.mark.spark

N_ITEMS, DIM, K = 90, 8, 5
GENRES = ["Action", "Comedy", "Drama"]


@pytest.fixture(scope="module")
def built(spark):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(3, DIM))
    vectors = (centres[np.arange(N_ITEMS) % 3] + 0.3 * rng.normal(size=(N_ITEMS, DIM))).astype(np.float32)
    ids = [int(i) for i in range(1, N_ITEMS + 1)]
    emb = spark.createDataFrame(
        [(int(i), [float(x) for x in v]) for i, v in zip(ids, vectors, strict=True)], "id long, vector array<float>"
    )
    # movies: embedded ones, plus cold movies 1001..1004 (no vector, no ratings; one has no genres at all)
    movie_rows = [(int(i), [GENRES[i % 3]] + ([GENRES[(i + 1) % 3]] if i % 4 == 0 else []), 3.0 + (i % 5) / 2, int(i % 7) * 10)
                  for i in ids]
    movie_rows += [(1001, ["Action"], None, None), (1002, ["Comedy", "Drama"], None, None),
                   (1003, [], None, None), (1004, ["Drama"], 5.0, 1)]
    movies = spark.createDataFrame(movie_rows, "movieId long, genres array<string>, avgRating double, ratingCount long")
    params = PipelineParams.quick().with_(similar_top_k=K, lsh_check_sample=30, lsh_bucket_length=2.0, similar_method="lsh")
    lists, recall = build_similar_lists(spark, {"item2vec": emb, "als_item": emb, "als_user": emb}, movies, params)
    return lists, recall, ids, vectors, movie_rows


def test_one_list_per_item_embedding_plus_genre(built) -> None:  # type: ignore[no-untyped-def]
    lists, recall, *_ = built
    assert set(lists) == {"item2vec", "als", GENRE_LIST}  # als_item -> "als"; als_user has none
    assert set(recall) == {"item2vec", "als"}
    for frame in lists.values():
        assert frame.schema.simpleString() == "struct<movieId:bigint,similar:array<bigint>,scores:array<float>>"


def test_lsh_lists_are_top_k_sorted_without_self_and_match_exact(built) -> None:  # type: ignore[no-untyped-def]
    lists, recall, ids, vectors, _ = built
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = unit @ unit.T
    rows = lists["item2vec"].collect()
    assert len(rows) >= 0.9 * N_ITEMS  # approximate: a movie whose neighbours share no bucket has no list
    assert sum(len(r.similar) == K for r in rows) >= 0.8 * N_ITEMS
    for row in rows:
        sims, scores = list(row.similar), list(row.scores)
        assert row.movieId not in sims and len(sims) == len(set(sims)) <= K
        assert scores == sorted(scores, reverse=True)
        for other, score in zip(sims, scores, strict=True):
            assert score == pytest.approx(exact[row.movieId - 1, other - 1], abs=1e-4)
    for name, value in recall.items():
        assert 0.8 <= value <= 1.0, (name, value)


def test_recall_is_measured_not_assumed(spark, built) -> None:  # type: ignore[no-untyped-def]
    """A tiny threshold leaves lists nearly empty, and the reported recall must drop with them."""
    _, _, ids, vectors, movie_rows = built
    emb = spark.createDataFrame(
        [(int(i), [float(x) for x in v]) for i, v in zip(ids, vectors, strict=True)], "id long, vector array<float>"
    )
    movies = spark.createDataFrame(movie_rows, "movieId long, genres array<string>, avgRating double, ratingCount long")
    params = PipelineParams.quick().with_(similar_top_k=K, lsh_check_sample=30, lsh_threshold=0.01, similar_method="lsh")
    _, recall = build_similar_lists(spark, {"item2vec": emb}, movies, params)
    assert recall["item2vec"] < 0.3


def test_genre_list_covers_every_movie_including_cold_ones(built) -> None:  # type: ignore[no-untyped-def]
    lists, _, _, _, movie_rows = built
    genres = {m[0]: set(m[1]) for m in movie_rows}
    rows = {r.movieId: (list(r.similar), list(r.scores)) for r in lists[GENRE_LIST].collect()}
    assert set(rows) == set(genres)
    for movie, (sims, scores) in rows.items():
        assert movie not in sims and len(sims) == K
        assert scores == sorted(scores, reverse=True)
        jaccards = [len(genres[movie] & genres[o]) / max(1, len(genres[movie] | genres[o])) for o in sims]
        assert scores == pytest.approx(jaccards)
    # a cold Action movie gets Action movies; the best-rated come first among equals
    sims, scores = rows[1001]
    assert all(genres[o] == {"Action"} for o in sims)
    # the movie without genres still gets a list (global best-rated)
    assert len(rows[1003][0]) == K


def test_exact_engine_equals_brute_force(spark, built) -> None:  # type: ignore[no-untyped-def]
    """``similar_method="exact"`` (the default for small catalogues) returns the true top-K for every movie."""
    _, _, ids, vectors, movie_rows = built
    emb = spark.createDataFrame(
        [(int(i), [float(x) for x in v]) for i, v in zip(ids, vectors, strict=True)], "id long, vector array<float>"
    )
    movies = spark.createDataFrame(movie_rows, "movieId long, genres array<string>, avgRating double, ratingCount long")
    params = PipelineParams.quick().with_(similar_top_k=K, lsh_check_sample=30, similar_method="exact")
    lists, recall = build_similar_lists(spark, {"item2vec": emb}, movies, params)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = unit @ unit.T
    np.fill_diagonal(exact, -np.inf)
    rows = {r.movieId: r for r in lists["item2vec"].collect()}
    assert set(rows) == set(ids)
    for movie, row in rows.items():
        truth = [ids[j] for j in np.argsort(-exact[movie - 1], kind="stable")[:K]]
        assert list(row.similar) == truth
        assert list(row.scores) == pytest.approx([exact[movie - 1, t - 1] for t in truth], abs=1e-5)
    assert recall["item2vec"] == pytest.approx(1.0)


def test_auto_picks_exact_for_small_catalogues() -> None:
    from offline.similar_lists import similar_method

    params = PipelineParams(exact_max_items=100)
    assert similar_method(params, 100) == "exact" and similar_method(params, 101) == "lsh"
    assert similar_method(params.with_(similar_method="lsh"), 10) == "lsh"
    with pytest.raises(ValueError, match="similar_method"):
        similar_method(params.with_(similar_method="nope"), 10)

"""Similar lists: LSH top-K with recall against exact search, the genre list for cold movies, itemcf (item CF)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from offline import similar_lists
from offline.params import PipelineParams
from offline.similar_lists import (
    GENRE_LIST,
    build_similar_lists,
    catalogue_matrix,
    exact_similar,
    unit_vectors,
)

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


def test_exact_engine_equals_brute_force(spark, built, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``similar_method="exact"`` (the default for small catalogues) returns the true top-K for every movie.

    The catalogue reaches the driver once per embedding: the recall check and the search share it.
    """
    _, _, ids, vectors, movie_rows = built
    collected = []

    def counting(unit):  # type: ignore[no-untyped-def]
        collected.append(1)
        return catalogue_matrix(unit)

    monkeypatch.setattr(similar_lists, "catalogue_matrix", counting)
    emb = spark.createDataFrame(
        [(int(i), [float(x) for x in v]) for i, v in zip(ids, vectors, strict=True)], "id long, vector array<float>"
    )
    movies = spark.createDataFrame(movie_rows, "movieId long, genres array<string>, avgRating double, ratingCount long")
    params = PipelineParams.quick().with_(similar_top_k=K, lsh_check_sample=30, similar_method="exact")
    lists, recall = build_similar_lists(spark, {"item2vec": emb}, movies, params)
    assert len(collected) == 1
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


def test_exact_engine_scores_in_bounded_blocks_with_the_same_result(spark, built) -> None:  # type: ignore[no-untyped-def]
    """Blocks of a few query rows (as ML-25M's catalogue gets) give exactly the one-block lists."""
    _, _, ids, vectors, _ = built
    emb = spark.createDataFrame(
        [(int(i), [float(x) for x in v]) for i, v in zip(ids, vectors, strict=True)], "id long, vector array<float>"
    )
    unit = unit_vectors(emb)

    def lists(block_cells: int) -> dict:
        return {r.movieId: (list(r.similar), list(r.scores))
                for r in exact_similar(spark, unit, K, block_cells=block_cells).collect()}

    whole = lists(10**9)
    assert len(whole) == len(ids)
    # 3 query rows per block; then 1 (a block is never empty, even when one row exceeds the budget)
    for blocked in (lists(3 * len(ids)), lists(1)):
        assert {m: s for m, (s, _) in blocked.items()} == {m: s for m, (s, _) in whole.items()}
        for movie, (_, scores) in blocked.items():  # BLAS sums in a shape-dependent order: float32 noise
            assert scores == pytest.approx(whole[movie][1], abs=1e-6)


def test_auto_picks_exact_for_small_catalogues() -> None:
    from offline.similar_lists import similar_method

    params = PipelineParams(exact_max_items=100)
    assert similar_method(params, 100) == "exact" and similar_method(params, 101) == "lsh"
    assert similar_method(params.with_(similar_method="lsh"), 10) == "lsh"
    with pytest.raises(ValueError, match="similar_method"):
        similar_method(params.with_(similar_method="nope"), 10)


# --- itemcf: item-based CF over training positives --------------------------------------------------

RATINGS_SCHEMA = "userId int, movieId int, rating double, timestamp long"
# positives (rating >= 3.5): user 1 {10, 20, 30}, user 2 {10, 20}, user 3 {10, 40}; 3's 2.0 on 30 is not one
HAND_RATINGS = [(1, 10, 5.0, 1), (1, 20, 4.0, 2), (1, 30, 4.0, 3), (2, 10, 4.0, 1), (2, 20, 3.5, 2),
                (3, 10, 4.0, 1), (3, 30, 2.0, 2), (3, 40, 5.0, 3)]


def _lists(frame) -> dict[int, tuple[list[int], list[float]]]:  # type: ignore[no-untyped-def]
    return {r.movieId: (list(r.similar), list(r.scores)) for r in frame.collect()}


def test_itemcf_is_the_cosine_of_positive_user_sets(spark) -> None:  # type: ignore[no-untyped-def]
    from offline.similar_lists import itemcf_similar

    got = _lists(itemcf_similar(spark.createDataFrame(HAND_RATINGS, RATINGS_SCHEMA), k=5, max_user_items=250))
    # |U_10| = 3, |U_20| = 2, |U_30| = |U_40| = 1; cos = co-occurrences / sqrt(|U_i| |U_j|)
    c1020, c1030, c2030 = 2 / math.sqrt(6), 1 / math.sqrt(3), 1 / math.sqrt(2)
    assert set(got) == {10, 20, 30, 40}
    assert got[10][0] == [20, 30, 40] and got[10][1] == pytest.approx([c1020, c1030, c1030])  # tie: movieId
    assert got[20][0] == [10, 30] and got[20][1] == pytest.approx([c1020, c2030])
    assert got[30][0] == [20, 10] and got[30][1] == pytest.approx([c2030, c1030])
    assert got[40][0] == [10] and got[40][1] == pytest.approx([c1030])  # 30 is not a positive of user 3
    top1 = _lists(itemcf_similar(spark.createDataFrame(HAND_RATINGS, RATINGS_SCHEMA), k=1, max_user_items=250))
    assert top1[10] == ([20], pytest.approx([c1020]))


def test_itemcf_keeps_only_each_users_most_recent_positives(spark) -> None:  # type: ignore[no-untyped-def]
    from offline.similar_lists import itemcf_similar

    # cap 2: user 1 keeps {30, 20} (newest), user 2 {10, 20}, user 3 {10, 40}; norms count the same rows
    got = _lists(itemcf_similar(spark.createDataFrame(HAND_RATINGS, RATINGS_SCHEMA), k=5, max_user_items=2))
    assert got[10][0] == [40, 20] and got[10][1] == pytest.approx([1 / math.sqrt(2), 0.5])
    assert got[30][0] == [20] and got[30][1] == pytest.approx([1 / math.sqrt(2)])


def test_itemcf_matches_the_itemknn_baseline_similarities(spark) -> None:  # type: ignore[no-untyped-def]
    """On random data every listed score is bench.baselines.ItemKNN's cosine, and the list is its top K."""
    import scipy.sparse as sp

    from bench.baselines import ItemKNN
    from offline.similar_lists import itemcf_similar

    rng = np.random.default_rng(5)
    n_users, n_items, k = 40, 30, 6
    rated = rng.random((n_users, n_items)) < 0.3
    stars = rng.choice([1.0, 2.5, 3.5, 4.0, 5.0], size=(n_users, n_items))
    rows = [(u + 1, i + 1, float(stars[u, i]), int(rng.integers(1, 10_000)))
            for u in range(n_users) for i in range(n_items) if rated[u, i]]
    lists = _lists(itemcf_similar(spark.createDataFrame(rows, RATINGS_SCHEMA), k=k, max_user_items=1000))
    positives = sp.csr_matrix((rated & (stars >= 3.5)).astype(np.float32))
    sim = np.asarray(ItemKNN(neighbours=n_items).fit(positives).sim.todense())  # type: ignore[union-attr]
    assert lists
    for movie, (others, scores) in lists.items():
        truth = sim[movie - 1]
        assert movie not in others and scores == sorted(scores, reverse=True)
        assert scores == pytest.approx([truth[o - 1] for o in others], abs=1e-5)
        assert scores == pytest.approx(sorted(truth[truth > 0], reverse=True)[:k], abs=1e-5)


def test_build_similar_lists_adds_itemcf_from_train_ratings(spark, built) -> None:  # type: ignore[no-untyped-def]
    from offline.similar_lists import ITEMCF_LIST

    _, _, ids, vectors, movie_rows = built
    movies = spark.createDataFrame(movie_rows, "movieId long, genres array<string>, avgRating double, ratingCount long")
    ratings = spark.createDataFrame(HAND_RATINGS, RATINGS_SCHEMA)
    lists, recall = build_similar_lists(spark, {}, movies, PipelineParams.quick().with_(similar_top_k=K), ratings)
    assert set(lists) == {ITEMCF_LIST, GENRE_LIST} and not recall  # no approximate search: nothing to check
    assert lists[ITEMCF_LIST].schema.simpleString() == "struct<movieId:bigint,similar:array<bigint>,scores:array<float>>"


def test_similar_step_counts_only_ratings_before_the_time_cut(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A pair rated together only after the cut (test time) never reaches the itemcf list."""
    from offline.pipeline import make_context, step_similar
    from offline.similar_lists import ITEMCF_LIST

    cut = 100
    # before the cut users 1 and 2 like movies 1 and 2; after it users 3 and 4 like 1+3 and 2+3
    rows = [(1, 1, 4.0, 10), (1, 2, 4.0, 11), (2, 1, 5.0, 12), (2, 2, 4.5, 13),
            (3, 1, 4.0, cut), (3, 3, 4.0, cut + 1), (4, 2, 4.0, cut + 2), (4, 3, 5.0, cut + 3)]
    ctx = make_context(tmp_path, tmp_path / "artifacts", spark=spark, work_dir=tmp_path / "work",
                       params=PipelineParams.quick().with_(similar_top_k=K))
    spark.createDataFrame(rows, RATINGS_SCHEMA).write.parquet(str(ctx.work.ratings))
    spark.createDataFrame([(m, ["Drama"], 4.0, 2) for m in (1, 2, 3)],
                          "movieId long, genres array<string>, avgRating double, ratingCount long",
                          ).write.parquet(str(ctx.work.movie_table))
    ctx.work.write_summary("embeddings", {"embeddings": {}})
    ctx.work.write_summary("split", {"cut": cut})
    step_similar(ctx)
    got = _lists(spark.read.parquet(str(ctx.work.similar(ITEMCF_LIST))))
    assert got == {1: ([2], pytest.approx([1.0])), 2: ([1], pytest.approx([1.0]))}
    assert ITEMCF_LIST in ctx.work.read_summary("similar")["lists"]


def test_genre_list_equals_brute_force_ranking_of_all_pairs(spark) -> None:  # type: ignore[no-untyped-def]
    """Pools larger than the catalogue: each movie's list is every other movie by Jaccard, Bayes, id.

    Several movies share a genre set (so they share one ranked set list, minus themselves), and the
    expected order is computed per movie over all pairs, as a plain reading of the rule would.
    """
    from offline.similar_lists import BAYES_PRIOR_COUNT, genre_similar

    sets = [["Action"], ["Action", "Comedy"], ["Comedy"], ["Action", "Comedy"], ["Drama"], [], ["Action"],
            ["Comedy", "Action"], ["Drama", "Action"], ["Action"]]
    rows = [(i + 1, g, 2.5 + (i * 7 % 5) / 2, (i * 3 % 4) * 5) for i, g in enumerate(sets)]
    movies = spark.createDataFrame(rows, "movieId long, genres array<string>, avgRating double, ratingCount long")
    k = 5  # pools of GENRE_POOL_FACTOR * k >= 10 movies: every movie is a candidate of every other
    got = {r.movieId: list(r.similar) for r in genre_similar(movies, k).collect()}
    rated = [(avg, n) for _, _, avg, n in rows if n > 0]
    mean = sum(a * n for a, n in rated) / sum(n for _, n in rated)
    bayes = {m: (avg * n + mean * BAYES_PRIOR_COUNT) / (n + BAYES_PRIOR_COUNT) for m, _, avg, n in rows}
    genres = {m: set(g) for m, g, _, _ in rows}

    def jaccard(a: int, b: int) -> float:
        union = genres[a] | genres[b]
        return len(genres[a] & genres[b]) / len(union) if union else 0.0

    for movie in genres:
        others = sorted((o for o in genres if o != movie), key=lambda o: (-jaccard(movie, o), -bayes[o], o))
        assert got[movie] == others[:k], movie

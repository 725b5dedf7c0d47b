"""Item2vec / DeepWalk / Node2vec / ALS embeddings and derived user embeddings on tiny data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offline.embeddings import (
    als_choice_report,
    build_item_embeddings,
    build_user_embeddings,
    embedding_seconds,
)
from offline.embeddings.item2vec import item2vec_embedding
from offline.embeddings.sequences import positive_sequences, transition_edges, word2vec_iterations
from offline.params import PipelineParams
from sparrow.bundle import ITEM_EMBEDDINGS, USER_EMBEDDINGS, user_embedding_name
from sparrow.feature_spec import POSITIVE_RATING

pytestmark = pytest.mark.spark

RATINGS_SCHEMA = "userId long, movieId long, rating double, timestamp long"


def test_positive_sequences_are_time_ordered_positives(spark) -> None:  # type: ignore[no-untyped-def]
    rows = [(1, 10, 4.0, 30), (1, 11, 5.0, 10), (1, 12, 2.0, 20), (1, 13, 3.5, 20), (2, 10, 1.0, 5)]
    seqs = {r.userId: list(r.sequence) for r in positive_sequences(spark.createDataFrame(rows, RATINGS_SCHEMA)).collect()}
    assert seqs == {1: [11, 13, 10]}  # 12 is negative; user 2 has no positive


def test_transition_edges_count_consecutive_pairs(spark) -> None:  # type: ignore[no-untyped-def]
    seqs = spark.createDataFrame([(1, [1, 2, 3]), (2, [1, 2, 2, 4]), (3, [5])], "userId long, sequence array<long>")
    edges = {(r.src, r.dst): r.weight for r in transition_edges(seqs).collect()}
    assert edges == {(1, 2): 2.0, (2, 3): 1.0, (2, 4): 1.0}  # no self loop 2->2, none from a 1-item sequence


@pytest.fixture(scope="module")
def train_ratings(spark, synthetic_data: Path):  # type: ignore[no-untyped-def]
    frame = pd.read_csv(synthetic_data / "ratings.csv")
    frame = frame.drop_duplicates(["userId", "movieId"])
    return spark.createDataFrame(frame[["userId", "movieId", "rating", "timestamp"]], RATINGS_SCHEMA), frame


@pytest.fixture(scope="module")
def embeddings(spark, train_ratings):  # type: ignore[no-untyped-def]
    ratings, _ = train_ratings
    params = PipelineParams.quick()
    return build_item_embeddings(spark, ratings, params), params


def test_every_embedding_has_the_contract_schema(embeddings) -> None:  # type: ignore[no-untyped-def]
    frames, params = embeddings
    assert set(frames) == {*ITEM_EMBEDDINGS, *USER_EMBEDDINGS}
    for name, frame in frames.items():
        assert frame.schema.simpleString() == "struct<id:bigint,vector:array<float>>", name
        dims = {r.d for r in frame.selectExpr("size(vector) AS d").distinct().collect()}
        assert dims == {params.embedding_dim if name not in ("als_item", "als_user") else params.als_rank}, name
        assert frame.count() == frame.select("id").distinct().count() > 0


def test_popular_movies_have_vectors_in_every_item_embedding(embeddings, train_ratings) -> None:  # type: ignore[no-untyped-def]
    frames, _ = embeddings
    _, pdf = train_ratings
    positives = pdf[pdf.rating >= POSITIVE_RATING]
    popular = set(positives.movieId.value_counts().head(30).index)
    for name in ITEM_EMBEDDINGS:
        ids = {r.id for r in frames[name].select("id").collect()}
        assert popular <= ids, name
        vectors = np.array([r.vector for r in frames[name].limit(50).collect()], dtype=np.float32)
        assert np.isfinite(vectors).all() and (np.linalg.norm(vectors, axis=1) > 0).all()  # L2-normalisable
    users = {r.id for r in frames["als_user"].select("id").collect()}
    assert users == set(pdf.userId)


def test_item2vec_puts_co_liked_movies_closer_than_random(train_ratings) -> None:  # type: ignore[no-untyped-def]
    ratings, pdf = train_ratings
    # quick() trains 2 epochs, too few to see structure in 120 users; train properly here (a few seconds)
    vectors = item2vec_embedding(ratings, PipelineParams.quick().with_(w2v_iterations=20))
    table = {r.id: np.asarray(r.vector) for r in vectors.collect()}
    center = np.mean(list(table.values()), axis=0)  # Word2Vec vectors share a common direction; remove it
    table = {k: v - center for k, v in table.items()}
    pos = pdf[pdf.rating >= POSITIVE_RATING].sort_values(["userId", "timestamp"])
    pairs = [(a, b) for _, g in pos.groupby("userId") for a, b in zip(g.movieId, g.movieId.iloc[1:], strict=False) if a != b]
    rng = np.random.default_rng(0)
    ids = list(table)

    def cos(a: int, b: int) -> float:
        x, y = table[a], table[b]
        return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))

    consecutive = np.mean([cos(a, b) for a, b in pairs[:2000]])
    random_pairs = np.mean([cos(*rng.choice(ids, 2, replace=False)) for _ in range(2000)])
    assert consecutive > random_pairs + 0.1, (consecutive, random_pairs)


def test_word2vec_passes_shrink_to_the_token_budget() -> None:
    params = PipelineParams().with_(w2v_iterations=5, w2v_token_budget=20_000_000)
    assert word2vec_iterations(100_000, params) == 5  # small corpus: every configured pass
    assert word2vec_iterations(8_000_000, params) == 2  # 2 x 8M fits in 20M, 3 x 8M does not
    assert word2vec_iterations(50_000_000, params) == 1  # never fewer than one pass
    assert word2vec_iterations(0, params) == 5


def test_item2vec_fits_the_budgeted_number_of_passes(train_ratings, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    ratings, pdf = train_ratings
    tokens = int((pdf.rating >= POSITIVE_RATING).sum())
    params = PipelineParams.quick().with_(w2v_iterations=4, w2v_token_budget=2 * tokens + 1)
    with caplog.at_level("INFO", logger="offline.embeddings.sequences"):
        assert item2vec_embedding(ratings, params).count() > 0
    assert f"{tokens} tokens, 2 iteration(s)" in caplog.text


def test_each_embedding_family_is_timed(embeddings) -> None:  # type: ignore[no-untyped-def]
    seconds = embedding_seconds()
    assert set(seconds) == {"item2vec", "deepwalk", "node2vec", "als"}
    assert all(s > 0 for s in seconds.values())


def test_als_choice_is_measured_and_reported(embeddings) -> None:  # type: ignore[no-untyped-def]
    report = als_choice_report()
    assert report["chosen"] in ("implicit", "explicit")
    assert report["metric"].startswith("recall@")
    assert 0.0 <= report["implicit"] <= 1.0 and 0.0 <= report["explicit"] <= 1.0
    assert report["users"] >= 1
    if report["users"] >= 5:
        better = "implicit" if report["implicit"] >= report["explicit"] else "explicit"
        assert report["chosen"] == better


def test_user_embedding_is_the_exact_mean_of_recent_positive_vectors(spark) -> None:  # type: ignore[no-untyped-def]
    items = spark.createDataFrame(
        [(1, [1.0, 0.0, 2.0]), (2, [3.0, 4.0, 0.0]), (3, [0.5, 0.5, 0.5]), (4, [9.0, 9.0, 9.0])],
        "id long, vector array<float>",
    )
    recent = spark.createDataFrame(
        [(10, [2, 1]), (11, [3]), (12, [99]), (13, [1, 99])], "userId long, recentPositives array<long>"
    )
    out = build_user_embeddings({"item2vec": items, "als_item": items, "als_user": items}, recent)
    assert set(out) == {user_embedding_name("item2vec")}
    frame = out[user_embedding_name("item2vec")]
    assert frame.schema.simpleString() == "struct<id:bigint,vector:array<float>>"
    got = {r.id: list(r.vector) for r in frame.collect()}
    assert got == {10: [2.0, 2.0, 1.0], 11: [0.5, 0.5, 0.5], 13: [1.0, 0.0, 2.0]}  # 12: no known movie


def test_als_choice_on_a_large_train_set_runs_on_a_user_sample(train_ratings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from offline.embeddings import als

    ratings, frame = train_ratings
    full = als.choose_implicit(ratings, PipelineParams.quick())
    monkeypatch.setattr(als, "CHECK_MAX_RATINGS", len(frame) // 3)
    sampled = als.choose_implicit(ratings, PipelineParams.quick())
    assert full["user_sample"] is False and sampled["user_sample"] is True
    assert sampled["chosen"] in ("implicit", "explicit")
    # about a third of the users take part
    assert 1 <= sampled["users"] < full["users"]


def test_embedding_families_run_concurrently(spark, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Families overlap in pairs (a barrier two must reach at once): one-core fits share the cores."""
    import threading

    import offline.embeddings as families

    barrier = threading.Barrier(2, timeout=30)  # BrokenBarrierError if the families ran one after another
    ran: list[str] = []

    def family(names: tuple[str, ...], meet: bool):  # type: ignore[no-untyped-def]
        def build(ratings, params):  # type: ignore[no-untyped-def]
            if meet:
                barrier.wait()
            ran.extend(names)
            return {n: spark.createDataFrame([(1, [0.5])], "id long, vector array<float>") for n in names}
        return build

    def single(name: str):  # type: ignore[no-untyped-def]
        return lambda frame, params: family((name,), True)(frame, params)[name]

    # deepwalk and node2vec start together, then item2vec and ALS: each pair meets at the barrier
    for name in ("deepwalk", "node2vec", "item2vec"):
        monkeypatch.setattr(families, f"{name}_embedding", single(name))
    monkeypatch.setattr(families, "als_embeddings", family(("als_item", "als_user"), True))
    rows = spark.createDataFrame([(1, 2, 4.0, 3)], RATINGS_SCHEMA)
    out = build_item_embeddings(spark, rows, PipelineParams.quick())
    assert set(out) == {"deepwalk", "node2vec", "item2vec", "als_item", "als_user"}
    assert set(embedding_seconds()) == {"deepwalk", "node2vec", "item2vec", "als"}
    assert sorted(ran) == sorted(out)


def test_als_blocks_shrink_only_for_small_data() -> None:
    from offline.embeddings.als import SPARK_DEFAULT_BLOCKS, als_blocks

    assert als_blocks(100_000, parallelism=2) == 2  # ml-latest-small: one block per core
    assert als_blocks(2_500_000, parallelism=2) == 3
    assert als_blocks(25_000_000, parallelism=2) == SPARK_DEFAULT_BLOCKS  # large data: Spark's default
    assert als_blocks(100_000, parallelism=64) == SPARK_DEFAULT_BLOCKS  # never above the default
    assert als_blocks(0, parallelism=0) == 1

"""Random walks are built lazily in Spark, follow real edges, respect weights and node2vec's p, q."""

from __future__ import annotations

from collections import Counter

import pytest
from pyspark.sql import DataFrame

from offline.embeddings.graph_walks import PATH_COL, random_walks, rejection_rounds

pytestmark = pytest.mark.spark

RING = 12


def ring_edges(spark) -> DataFrame:  # type: ignore[no-untyped-def]
    """A bidirectional ring 0..RING-1 plus a dead end: 0 -> 100 (node 100 has no out-edge)."""
    rows = [(i, (i + 1) % RING, 1.0) for i in range(RING)] + [((i + 1) % RING, i, 1.0) for i in range(RING)]
    rows.append((0, 100, 1.0))
    return spark.createDataFrame(rows, "src long, dst long, weight double")


def walks_of(frame: DataFrame) -> list[list[int]]:
    return [list(r[PATH_COL]) for r in frame.collect()]


def test_walks_are_lazy_spark_dataframes(spark) -> None:  # type: ignore[no-untyped-def]
    edges = ring_edges(spark)
    sc = spark.sparkContext
    sc.setJobGroup("h2-walk-build", "building walks must not run a job")
    try:
        walks = random_walks(edges, walk_length=6, walks_per_node=3, p=1.0, q=0.5, seed=1)
    finally:
        sc.setJobGroup("h2-other", "")
    assert isinstance(walks, DataFrame)
    assert sc.statusTracker().getJobIdsForGroup("h2-walk-build") == []  # nothing executed, nothing collected
    assert walks.columns == ["walkId", PATH_COL]


@pytest.mark.parametrize(("p", "q"), [(1.0, 1.0), (1.0, 0.5)])
def test_walks_follow_edges_and_cover_every_node(spark, p: float, q: float) -> None:  # type: ignore[no-untyped-def]
    edges = ring_edges(spark)
    edge_set = {(r.src, r.dst) for r in edges.collect()}
    walks = walks_of(random_walks(edges, walk_length=6, walks_per_node=3, p=p, q=q, seed=1))
    starts = Counter(w[0] for w in walks)
    assert set(starts) == set(range(RING)) | {100} and set(starts.values()) == {3}
    for walk in walks:
        assert all((a, b) in edge_set for a, b in zip(walk, walk[1:], strict=False))
        # only a walk that reached the dead end stops early
        assert len(walk) == 6 or walk[-1] == 100
    assert any(len(w) == 6 for w in walks) and [w for w in walks if w[0] == 100] == [[100]] * 3


def test_walks_are_deterministic_for_a_seed(spark) -> None:  # type: ignore[no-untyped-def]
    edges = ring_edges(spark)
    first = sorted(walks_of(random_walks(edges, 5, 2, 1.0, 0.5, seed=3)))
    assert first == sorted(walks_of(random_walks(edges, 5, 2, 1.0, 0.5, seed=3)))
    assert first != sorted(walks_of(random_walks(edges, 5, 2, 1.0, 0.5, seed=4)))


def test_next_step_is_proportional_to_edge_weight(spark) -> None:  # type: ignore[no-untyped-def]
    edges = spark.createDataFrame([(1, 2, 9.0), (1, 3, 1.0), (2, 1, 1.0), (3, 1, 1.0)], "src long, dst long, weight double")
    walks = walks_of(random_walks(edges, walk_length=2, walks_per_node=2000, seed=5))
    seconds = Counter(w[1] for w in walks if w[0] == 1)
    share = seconds[2] / sum(seconds.values())
    assert 0.86 < share < 0.94  # 0.9 expected; 2000 draws give sd ~0.007


def distinct_share(walks: list[list[int]]) -> float:
    ring_walks = [w for w in walks if 100 not in w]
    return sum(len(set(w)) / len(w) for w in ring_walks) / len(ring_walks)


def test_node2vec_small_q_explores_more_than_large_q(spark) -> None:  # type: ignore[no-untyped-def]
    edges = ring_edges(spark)
    explore = distinct_share(walks_of(random_walks(edges, 8, 40, p=1.0, q=0.1, seed=2)))
    uniform = distinct_share(walks_of(random_walks(edges, 8, 40, p=1.0, q=1.0, seed=2)))
    local = distinct_share(walks_of(random_walks(edges, 8, 40, p=1.0, q=10.0, seed=2)))
    # on a ring the only non-return move is "outward": q=0.1 takes it ~91% of the time, q=10 ~9%
    assert explore > uniform > local
    assert explore > 0.8 and local < 0.45


def test_large_p_discourages_returning(spark) -> None:  # type: ignore[no-untyped-def]
    edges = ring_edges(spark)

    def returns(walks: list[list[int]]) -> float:
        steps = [(w[i], w[i + 2]) for w in walks for i in range(len(w) - 2)]
        return sum(a == b for a, b in steps) / len(steps)

    assert returns(walks_of(random_walks(edges, 8, 40, p=10.0, q=1.0, seed=2))) < 0.2
    assert returns(walks_of(random_walks(edges, 8, 40, p=0.1, q=1.0, seed=2))) > 0.8


def test_rejection_rounds_bound_the_miss_probability() -> None:
    assert rejection_rounds(1.0, 1.0) == 1
    for p, q in [(1.0, 0.5), (1.0, 0.1), (4.0, 0.25)]:
        alphas = (1 / p, 1.0, 1 / q)
        assert (1 - min(alphas) / max(alphas)) ** rejection_rounds(p, q) < 0.01 or rejection_rounds(p, q) == 64

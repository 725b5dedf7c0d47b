"""Item and user embeddings: Item2vec, DeepWalk, Node2vec (walks in Spark) and ALS factors.

Every embedding is a DataFrame ``id long, vector array<float>`` (float32 values), named as in
:mod:`sparrow.bundle` (``ITEM_EMBEDDINGS``, ``USER_EMBEDDINGS``, :func:`~sparrow.bundle.user_embedding_name`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import DataFrame, SparkSession

from offline.embeddings.als import als_choice_report, als_embeddings
from offline.embeddings.graph_walks import deepwalk_embedding, node2vec_embedding, transition_graph
from offline.embeddings.item2vec import item2vec_embedding
from offline.embeddings.user_embeddings import build_user_embeddings
from offline.params import PipelineParams

__all__ = ["als_choice_report", "build_item_embeddings", "build_user_embeddings", "embedding_seconds"]

log = logging.getLogger("sparrow.offline")
_seconds: dict[str, float] = {}
FAMILY_THREADS = 2  # one per core: a single-core Word2Vec fit leaves the other to the next family


def embedding_seconds() -> dict[str, float]:
    """Seconds each family took in the last :func:`build_item_embeddings` call (for the run summary)."""
    return dict(_seconds)


def _timed(name: str, build: Callable[[], dict[str, DataFrame]]) -> dict[str, DataFrame]:
    """Build and materialise one embedding family, logging and recording how long it took."""
    start = time.perf_counter()
    frames = {n: f.persist() for n, f in build().items()}
    for frame in frames.values():
        frame.count()
    _seconds[name] = round(time.perf_counter() - start, 1)
    log.info("embeddings %-9s %7.1f s", name, _seconds[name])
    return frames


def build_item_embeddings(spark: SparkSession, train_ratings: DataFrame, params: PipelineParams) -> dict[str, DataFrame]:
    """All item embeddings plus ALS user factors, from train ratings only.

    ``train_ratings``: ``userId long, movieId long, rating double, timestamp long``. Returns
    ``{"item2vec", "deepwalk", "node2vec", "als_item", "als_user"}`` -> ``id long, vector array<float>``.
    The ALS implicit/explicit decision is available afterwards from :func:`als_choice_report`.

    The families run as concurrent Spark jobs, ``FAMILY_THREADS`` at a time: Spark's Word2Vec fits
    on one core (see ``PipelineParams.w2v_token_budget``), so run one after another the second core
    idled through every Word2Vec fit (three of them, ~4 min at the ML-25M shape). Each family is
    deterministic, so the results do not depend on how the jobs interleave; the recorded seconds
    are each family's wall time while sharing the cores.
    """
    del spark  # the DataFrames carry their session; kept in the signature for symmetry with other steps
    ratings = train_ratings.select("userId", "movieId", "rating", "timestamp").persist()
    # built once, before the families start, so DeepWalk and Node2vec do not both compute it
    edges = transition_graph(ratings).persist()
    _seconds.clear()
    # the two walk families are the longest (each a walk job on both cores, then a one-core fit), so they
    # start first, one per thread; the shorter item2vec and ALS then fill whichever thread frees up
    families: list[tuple[str, Callable[[], dict[str, DataFrame]]]] = [
        ("deepwalk", lambda: {"deepwalk": deepwalk_embedding(edges, params)}),
        ("node2vec", lambda: {"node2vec": node2vec_embedding(edges, params)}),
        ("item2vec", lambda: {"item2vec": item2vec_embedding(ratings, params)}),
        ("als", lambda: als_embeddings(ratings, params)),
    ]
    out: dict[str, DataFrame] = {}
    # each family is materialised while the cached inputs are still there; results are small (one row per id)
    try:
        edges.count()
        with ThreadPoolExecutor(max_workers=FAMILY_THREADS, thread_name_prefix="embeddings") as pool:
            for frames in pool.map(lambda family: _timed(*family), families):
                out.update(frames)
    finally:
        edges.unpersist()
        ratings.unpersist()
    return out

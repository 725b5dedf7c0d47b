"""Similar-movie lists: top-K per movie per embedding (Spark LSH or exact), checked against exact search.

``params.similar_method`` picks the engine: Spark LSH (approximate, for catalogues too large to
broadcast) or an exact blockwise top-K that runs on the executors against a broadcast copy of the
catalogue matrix (``auto`` = exact up to ``params.exact_max_items`` movies).

For each item embedding, vectors are L2-normalised so Euclidean distance ``d`` and cosine are
tied by ``cos = 1 - d^2 / 2``; Spark's ``BucketedRandomProjectionLSH`` self-join finds candidate
pairs within a distance threshold without comparing all pairs, and a window keeps the K closest
per movie. On a sample of movies the lists are compared with exact cosine search (numpy) and the
recall@K is reported. A "genre" list covers every movie, cold ones included: movies sharing the
most genres (Jaccard), ties broken by a Bayesian-averaged rating.

The "itemcf" list needs no embedding: item-based collaborative filtering (Sarwar et al., 2001),
the cosine of two movies' sets of users with a training positive, computed by a co-occurrence
self-join on userId (each user's recent positives capped, so the pair count stays bounded).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.ml.feature import BucketedRandomProjectionLSH, Normalizer
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from offline.params import PipelineParams
from sparrow.bundle import GENRE_LIST, ITEM_EMBEDDINGS, ITEMCF_LIST, similar_list_for_embedding
from sparrow.feature_spec import POSITIVE_RATING

log = logging.getLogger(__name__)

__all__ = ["GENRE_LIST", "ITEMCF_LIST", "build_similar_lists", "itemcf_similar"]
BAYES_PRIOR_COUNT = 10  # ratings worth of the global mean added to every movie's average
GENRE_POOL_FACTOR = 2  # candidates per genre pool = factor * K best-rated movies of that genre


THRESHOLD_QUANTILE = 0.95
# Exact search scores a block of query rows against the whole catalogue at once: rows x movies cells
# (float32, plus an int64 index of the same shape in argpartition). Bounding the cells, not the rows,
# bounds a worker's scratch to ~100 MB at any catalogue size; Arrow's 10k-row batches against
# ML-25M's 59k movies were 2.4 GB of scores and ~7 GB per worker: two workers got the JVM OOM-killed.
EXACT_BLOCK_CELLS = 8_000_000


@dataclass
class ExactSample:
    """Exact cosine top-K of a sample of movies, computed on the driver from the unit vectors."""

    movie_ids: list[int]
    neighbours: list[set[int]]
    kth_distance: np.ndarray  # Euclidean distance of each sampled movie's K-th neighbour

    def threshold(self, quantile: float = THRESHOLD_QUANTILE) -> float:
        """A join distance that keeps the K-th neighbour of ``quantile`` of the movies."""
        if not len(self.kth_distance):
            return math.sqrt(2.0)
        return float(min(math.sqrt(2.0), np.quantile(self.kth_distance, quantile) + 1e-6))

    def recall(self, lists: DataFrame) -> float:
        """Mean recall@K of ``lists`` (movieId, similar) over the sampled movies."""
        if not self.movie_ids:
            return float("nan")
        approx = {
            int(r["movieId"]): set(r["similar"])
            for r in lists.where(F.col("movieId").isin(self.movie_ids)).select("movieId", "similar").collect()
        }
        return float(np.mean([
            len(approx.get(m, set()) & truth) / len(truth) for m, truth in zip(self.movie_ids, self.neighbours, strict=True)
        ]))


def unit_vectors(vectors: DataFrame) -> DataFrame:
    """``id long, unit vector``: L2-normalised embedding vectors (ML vectors, as LSH needs)."""
    return Normalizer(inputCol="v", outputCol="unit", p=2.0).transform(
        vectors.select(F.col("id").cast("long").alias("id"), array_to_vector("vector").alias("v"))
    ).select("id", "unit")


def catalogue_matrix(unit: DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(ids int64[n], unit vectors float32[n, dim])`` of a :func:`unit_vectors` table, on the driver.

    Collected once per embedding and shared by the recall check and the exact search: only the
    catalogue-sized vector table reaches the driver (movies x dim floats), never ratings.
    """
    rows = unit.select("id", vector_to_array("unit", "float32").alias("u")).collect()
    ids = np.array([r["id"] for r in rows], dtype=np.int64)
    return ids, np.array([r["u"] for r in rows], dtype=np.float32).reshape(len(rows), -1)


def exact_sample(catalogue: tuple[np.ndarray, np.ndarray], k: int, sample: int, seed: int) -> ExactSample:
    """Exact top-``k`` by cosine for ``sample`` random movies of ``catalogue`` (numpy on the driver)."""
    ids, mat = catalogue
    if len(ids) < 2 or sample <= 0:
        return ExactSample([], [], np.array([]))
    chosen = np.random.default_rng(seed).choice(len(ids), size=min(sample, len(ids)), replace=False)
    top, top_sims = _exact_top_k(mat[chosen], mat, list(chosen), min(k, len(ids) - 1))
    kth_cos = top_sims[:, -1]  # best first, so the last column is the K-th neighbour
    return ExactSample(
        movie_ids=[int(i) for i in ids[chosen]],
        neighbours=[set(ids[row].tolist()) for row in top],
        kth_distance=np.sqrt(np.clip(2.0 - 2.0 * kth_cos, 0.0, None)),
    )


def lsh_similar(unit: DataFrame, params: PipelineParams, threshold: float) -> DataFrame:
    """``movieId long, similar array<long>, scores array<float>`` by approximate cosine (LSH self-join).

    Pairs farther apart than ``threshold`` (Euclidean, unit vectors) are never scored. Self pairs
    are dropped; each unordered pair is scored once and used in both directions.
    """
    lsh = BucketedRandomProjectionLSH(
        inputCol="unit",
        outputCol="hashes",
        bucketLength=params.lsh_bucket_length,
        numHashTables=params.lsh_num_tables,
        seed=params.seed,
    ).fit(unit)
    pairs = (
        lsh.approxSimilarityJoin(unit, unit, threshold, distCol="dist")
        .select(F.col("datasetA.id").alias("a"), F.col("datasetB.id").alias("b"), "dist")
        .where(F.col("a") < F.col("b"))
        .select("a", "b", (F.lit(1.0) - F.col("dist") * F.col("dist") / 2.0).alias("score"))
    )
    both = pairs.union(pairs.select(F.col("b").alias("a"), F.col("a").alias("b"), "score"))
    return top_k_lists(both.withColumnRenamed("a", "movieId").withColumnRenamed("b", "other"), params.similar_top_k)


def _exact_top_k(query: np.ndarray, catalogue: np.ndarray, self_pos: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and cosines of the ``k`` best catalogue rows per query row, best first (no self)."""
    sims = query @ catalogue.T
    sims[np.arange(len(query)), self_pos] = -np.inf
    top = np.argpartition(sims, -k, axis=1)[:, -k:]
    top_sims = np.take_along_axis(sims, top, axis=1)
    order = np.argsort(-top_sims, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_sims, order, axis=1)


def exact_similar(
    spark: SparkSession,
    unit: DataFrame,
    k: int,
    block_cells: int = EXACT_BLOCK_CELLS,
    catalogue: tuple[np.ndarray, np.ndarray] | None = None,
) -> DataFrame:
    """``movieId long, similar array<long>, scores array<float>`` by exact cosine (no self).

    The catalogue matrix (movies x dim floats) is broadcast once; each executor scores its share of
    query movies against it in blocks of at most ``block_cells`` scores with one matrix product
    per block and keeps the top ``k`` per row. ``catalogue`` is :func:`catalogue_matrix` of ``unit``
    when the caller already holds it.
    """
    ids, mat = catalogue if catalogue is not None else catalogue_matrix(unit)
    shared = spark.sparkContext.broadcast((ids, mat))
    kk = max(0, min(k, len(ids) - 1))
    rows_per_block = max(1, block_cells // max(len(ids), 1))

    def top_k(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        all_ids, all_vecs = shared.value
        position = {int(m): i for i, m in enumerate(all_ids)}
        for batch in batches:
            if batch.empty or kk == 0:
                continue
            for start in range(0, len(batch), rows_per_block):
                block = batch.iloc[start : start + rows_per_block]
                top, top_sims = _exact_top_k(np.stack(block["u"].to_numpy()).astype(np.float32), all_vecs,
                                             [position[int(m)] for m in block["id"]], kk)
                yield pd.DataFrame({
                    "movieId": block["id"].astype("int64").to_numpy(),
                    "similar": list(all_ids[top]),
                    "scores": list(top_sims.astype(np.float32)),
                })

    return unit.select("id", vector_to_array("unit", "float32").alias("u")).mapInPandas(
        top_k, schema="movieId long, similar array<long>, scores array<float>"
    )


def top_k_lists(scored: DataFrame, k: int) -> DataFrame:
    """Rank ``movieId, other, score`` rows per movie (score desc, then other); keep the best ``k`` as arrays."""
    order = (F.col("score").desc(), F.col("other"))
    ranked = scored.withColumn("rank", F.row_number().over(Window.partitionBy("movieId").orderBy(*order)))
    return (
        ranked.where(F.col("rank") <= k)
        .groupBy("movieId")
        .agg(F.array_sort(F.collect_list(F.struct("rank", "other", "score"))).alias("r"))
        .select(
            F.col("movieId").cast("long").alias("movieId"),
            F.col("r.other").cast("array<long>").alias("similar"),
            F.col("r.score").cast("array<float>").alias("scores"),
        )
    )


def genre_similar(movies: DataFrame, k: int) -> DataFrame:
    """Genre list for every movie: most shared genres (Jaccard) first, then higher Bayesian rating.

    Candidates per movie are the ``GENRE_POOL_FACTOR * k`` best-rated movies of each of its genres,
    of its exact genre set and of the whole catalogue (so a movie without genres still gets a list);
    this bounds the work to ``movies * (genres + 2) * pool`` rows instead of all pairs.

    Candidates and scores depend only on a movie's genre set, so each distinct set (~950 in
    ml-latest-small's 9.7k movies) is ranked once, ``k + 1`` deep, and every movie takes its set's
    list without itself: the same lists as ranking per movie from a tenth of the rows (18 s -> 4 s there).
    """
    genres = F.array_sort(F.coalesce(F.array_distinct("genres"), F.array().cast("array<string>")))
    stats = movies.select(
        F.col("movieId").cast("long").alias("movieId"),
        genres.alias("genres"),
        F.coalesce(F.col("avgRating").cast("double"), F.lit(0.0)).alias("avg"),
        F.coalesce(F.col("ratingCount").cast("double"), F.lit(0.0)).alias("n"),
    ).withColumn("gset", F.array_join("genres", "|"))
    mean = stats.where(F.col("n") > 0).select(
        (F.sum(F.col("avg") * F.col("n")) / F.sum("n")).alias("m")
    )
    bayes = (F.col("avg") * F.col("n") + F.col("m") * BAYES_PRIOR_COUNT) / (F.col("n") + BAYES_PRIOR_COUNT)
    stats = stats.crossJoin(F.broadcast(mean.fillna(0.0))).withColumn("bayes", bayes).drop("avg", "n", "m")
    keys = F.concat(
        F.transform("genres", lambda g: F.concat(F.lit("g:"), g)),
        F.array(F.concat(F.lit("set:"), F.col("gset")), F.lit("*")),
    )
    pool = (
        stats.select("movieId", "genres", "bayes", F.explode(keys).alias("key"))
        .withColumn("r", F.row_number().over(Window.partitionBy("key").orderBy(F.col("bayes").desc(), "movieId")))
        .where(F.col("r") <= GENRE_POOL_FACTOR * k)
        .select("key", F.col("movieId").alias("other"), F.col("genres").alias("og"), F.col("bayes").alias("ob"))
    )
    sets = stats.select("gset", "genres").dropDuplicates(["gset"])
    jaccard = F.when(
        F.size(F.array_union("genres", "og")) > 0,
        F.size(F.array_intersect("genres", "og")) / F.size(F.array_union("genres", "og")),
    ).otherwise(F.lit(0.0))
    # a candidate reached through several keys is the same struct every time: collect_set keeps one
    candidate = F.struct((-jaccard).alias("neg_score"), (-F.col("ob")).alias("neg_ob"), F.col("other"))
    per_set = (
        sets.select("gset", "genres", F.explode(keys).alias("key"))
        .join(pool, "key")
        .groupBy("gset")
        .agg(F.slice(F.array_sort(F.collect_set(candidate)), 1, k + 1).alias("r"))
    )
    lists = stats.select("movieId", "gset").join(per_set, "gset").select(
        "movieId", F.slice(F.filter("r", lambda c: c["other"] != F.col("movieId")), 1, k).alias("r")
    ).where(F.size("r") > 0)
    return _ranked_arrays(lists)


def _pairs_at_cap(histogram: dict[int, int], cap: int) -> int:
    """Self-join pairs when each user keeps at most ``cap`` positives (``histogram``: count -> users)."""
    return sum(users * min(n, cap) * (min(n, cap) - 1) // 2 for n, users in histogram.items())


def pair_budget_cap(histogram: dict[int, int], max_user_items: int, max_pairs: int) -> int:
    """The largest per-user cap ``c <= max_user_items`` whose self-join emits at most ``max_pairs`` pairs.

    ``histogram`` maps a user's positive count ``n`` to how many users have it; a user contributes
    ``m * (m - 1) / 2`` pairs with ``m = min(n, c)``. Small data never binds (the cap stays
    ``max_user_items``); at the ML-25M shape it keeps the join at minutes, not hours, on 2 cores.
    """
    lo, hi = 2, max(2, max_user_items)
    if _pairs_at_cap(histogram, hi) <= max_pairs:
        return hi
    while lo < hi:  # the pair count is monotone in the cap: binary search the last cap within budget
        mid = (lo + hi + 1) // 2
        if _pairs_at_cap(histogram, mid) <= max_pairs:
            lo = mid
        else:
            hi = mid - 1
    return lo


def itemcf_similar(train_ratings: DataFrame, k: int, max_user_items: int, max_pairs: int | None = None) -> DataFrame:
    """``movieId long, similar array<long>, scores array<float>``: item-based CF over training positives.

    ``cos(i, j) = |U_i & U_j| / sqrt(|U_i| |U_j|)`` where ``U_i`` is the set of users who rated ``i`` at
    least ``POSITIVE_RATING`` (binary, as ``bench.baselines.ItemKNN``). Only each user's most recent
    ``max_user_items`` positives (ties by movieId) take part, so the self-join on userId emits at most
    ``users * cap * (cap - 1) / 2`` pairs however long a history is; the norms count the same capped
    positives, so every score is a true cosine in (0, 1]. Equal cosines prefer the pair seen together
    more often. ``train_ratings`` must already be cut at the training time (``offline.split.before``).
    """
    liked = train_ratings.where(F.col("rating") >= F.lit(POSITIVE_RATING)).select(
        F.col("userId").cast("long").alias("userId"), F.col("movieId").cast("long").alias("movieId"), "timestamp"
    )
    # positives per user -> users with that count: a plain aggregation (no sort), a few thousand rows at
    # most; it sets the pair-budget cap and gives the pair bound without another pass over the data
    hist_rows = liked.groupBy("userId").count().groupBy(F.col("count").alias("n")).count().collect()
    histogram = {int(r["n"]): int(r["count"]) for r in hist_rows}
    if max_pairs is not None:
        capped = pair_budget_cap(histogram, max_user_items, max_pairs)
        if capped < max_user_items:
            log.info("itemcf: per-user cap %d -> %d to stay within %d pairs", max_user_items, capped, max_pairs)
        max_user_items = capped
    log.info("itemcf: %d users, %d capped positives (cap %d), at most %d pairs",
             sum(histogram.values()), sum(u * min(n, max_user_items) for n, u in histogram.items()),
             max_user_items, _pairs_at_cap(histogram, max_user_items))
    recent = Window.partitionBy("userId").orderBy(F.col("timestamp").desc(), F.col("movieId"))
    positives = (
        liked.withColumn("recent", F.row_number().over(recent))
        .where(F.col("recent") <= max_user_items)
        .select("userId", "movieId")
        .persist()
    )
    norms = positives.groupBy("movieId").agg(F.count("*").cast("double").alias("n"))
    pairs = (
        positives.select("userId", F.col("movieId").alias("a"))
        .join(positives.select("userId", F.col("movieId").alias("b")), "userId")
        .where(F.col("a") < F.col("b"))
        .groupBy("a", "b")
        .agg(F.count("*").cast("double").alias("co"))
    )
    scored = (
        pairs.join(F.broadcast(norms.select(F.col("movieId").alias("a"), F.col("n").alias("na"))), "a")
        .join(F.broadcast(norms.select(F.col("movieId").alias("b"), F.col("n").alias("nb"))), "b")
        .select("a", "b", "co", (F.col("co") / F.sqrt(F.col("na") * F.col("nb"))).alias("score"))
    )
    both = scored.select(F.col("a").alias("movieId"), F.col("b").alias("other"), "score", "co").union(
        scored.select(F.col("b").alias("movieId"), F.col("a").alias("other"), "score", "co")
    )
    return _top_k_collected(both, k)


def _top_k_collected(scored: DataFrame, k: int) -> DataFrame:
    """Best ``k`` of ``movieId, other, score, co`` rows per movie: score desc, then co desc, then other.

    One hash aggregation (each movie's neighbours collected and sorted as an array) instead of
    :func:`top_k_lists`' window, whose full sort of every pair was ~5x slower on 24M pair rows.
    """
    key = F.struct((-F.col("score")).alias("neg_score"), (-F.col("co")).alias("neg_co"), F.col("other"))
    best = scored.groupBy("movieId").agg(F.slice(F.array_sort(F.collect_list(key)), 1, k).alias("r"))
    return _ranked_arrays(best)


def _ranked_arrays(ranked: DataFrame) -> DataFrame:
    """``movieId, r`` (sorted structs with ``neg_score`` and ``other``) as the list schema."""
    return ranked.select(
        F.col("movieId").cast("long").alias("movieId"),
        F.col("r.other").cast("array<long>").alias("similar"),
        F.transform("r.neg_score", lambda s: -s).cast("array<float>").alias("scores"),
    )


def similar_method(params: PipelineParams, n_items: int) -> str:
    """The engine for a catalogue of ``n_items`` movies: ``exact`` or ``lsh`` (see the module doc)."""
    if params.similar_method in ("exact", "lsh"):
        return params.similar_method
    if params.similar_method != "auto":
        raise ValueError(f"similar_method must be auto, exact or lsh, not {params.similar_method!r}")
    return "exact" if n_items <= params.exact_max_items else "lsh"


def build_similar_lists(
    spark: SparkSession,
    item_embeddings: dict[str, DataFrame],
    movies: DataFrame,
    params: PipelineParams,
    train_ratings: DataFrame | None = None,
) -> tuple[dict[str, DataFrame], dict[str, float]]:
    """Similar lists per item embedding (LSH) plus the genre list, and recall@K of each LSH list.

    With ``train_ratings`` (ratings before the time cut) the ``itemcf`` list is built too.

    Returns ``({list name: movieId, similar array<long>, scores array<float>}, {list name: recall@K})``.
    List names come from :func:`sparrow.bundle.similar_list_for_embedding` (``als_item`` -> ``als``).
    Lists are persisted (and counted) so the caller can write them without recomputing the LSH join.
    """
    lists: dict[str, DataFrame] = {}
    recall: dict[str, float] = {}
    for name, vectors in item_embeddings.items():
        if name not in ITEM_EMBEDDINGS:
            continue  # user factors (als_user) have no similar list
        list_name = similar_list_for_embedding(name)
        started = time.monotonic()
        unit = unit_vectors(vectors).persist()
        catalogue = catalogue_matrix(unit)
        check = exact_sample(catalogue, params.similar_top_k, params.lsh_check_sample, params.seed)
        method = similar_method(params, len(catalogue[0]))
        if method == "exact":
            lists[list_name] = exact_similar(spark, unit, params.similar_top_k, catalogue=catalogue).persist()
            threshold = float("nan")
        else:
            threshold = params.lsh_threshold if params.lsh_threshold is not None else check.threshold()
            lists[list_name] = lsh_similar(unit, params, threshold).persist()
        rows = lists[list_name].count()
        recall[list_name] = check.recall(lists[list_name])
        unit.unpersist()
        log.info(
            "similar list %s: %d movies, %s, threshold %.3f, recall@%d %.3f, %.1f s",
            list_name, rows, method, threshold, params.similar_top_k, recall[list_name], time.monotonic() - started,
        )
    if train_ratings is not None:
        started = time.monotonic()
        lists[ITEMCF_LIST] = itemcf_similar(
            train_ratings, params.similar_top_k, params.itemcf_max_user_items, params.itemcf_max_pairs
        ).persist()
        rows = lists[ITEMCF_LIST].count()
        log.info("similar list %s: %d movies, %.1f s", ITEMCF_LIST, rows, time.monotonic() - started)
    lists[GENRE_LIST] = genre_similar(movies, params.similar_top_k).persist()
    lists[GENRE_LIST].count()
    return lists, recall

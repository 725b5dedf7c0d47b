"""ALS matrix factorisation (Spark ML): user and item factors, implicit or explicit by measurement.

Implicit ALS (Hu, Koren & Volinsky, 2008) treats every rating as a confidence ``1 + alpha * r``
that the user likes the movie; explicit ALS fits the rating values. Which one recalls better is
an empirical question, so :func:`als_embeddings` fits both on the earlier part of train, measures
recall@N of the later part's positives (already-seen movies excluded), keeps the winner and refits
it on all of train. The measurement is kept for the manifest: read it with :func:`als_choice_report`.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from offline.params import PipelineParams
from sparrow.feature_spec import POSITIVE_RATING

log = logging.getLogger(__name__)

HOLDOUT_FRACTION = 0.1  # latest share of train ratings (by time) used to compare the two ALS kinds
CHECK_TOP_N = 20
CHECK_MAX_USERS = 500  # users sampled for the check; bounds what reaches the driver
MIN_CHECK_USERS = 5
CHECK_MAX_RATINGS = 2_000_000  # above this, the implicit/explicit comparison runs on a sample of users
SPARK_DEFAULT_BLOCKS = 10  # Spark ML's numUserBlocks / numItemBlocks default
RATINGS_PER_BLOCK = 1_000_000

_last_report: dict[str, Any] = {}


def als_choice_report() -> dict[str, Any]:
    """How the last :func:`als_embeddings` call chose implicit vs explicit ALS.

    Keys: ``chosen`` ("implicit"|"explicit"), ``reason``, and when measured ``metric``
    (e.g. ``recall@20``), ``implicit``, ``explicit`` (the two scores), ``users`` (users evaluated)
    and ``holdout_from_ts`` (first timestamp of the held-out part). Empty before the first call.
    """
    return copy.deepcopy(_last_report)


def als_blocks(n_ratings: int, parallelism: int) -> int:
    """User and item blocks for ALS on ``n_ratings``: Spark's 10, fewer only when the data is small.

    Every ALS iteration shuffles factors between all blocks, so on ml-latest-small (100k ratings)
    ten blocks made a fit ~2.6x slower than two (8.9 s vs 3.4 s on 2 cores). At least one block
    per task slot (``parallelism``) keeps every core busy; above 10M ratings nothing changes.
    """
    wanted = max(parallelism, -(-n_ratings // RATINGS_PER_BLOCK))
    return max(1, min(SPARK_DEFAULT_BLOCKS, wanted))


def fit_als(ratings: DataFrame, params: PipelineParams, implicit: bool, blocks: int = SPARK_DEFAULT_BLOCKS) -> ALSModel:
    """Fit Spark ML ALS on ``userId, movieId, rating`` with the pipeline's ALS settings."""
    als = ALS(
        numUserBlocks=blocks,
        numItemBlocks=blocks,
        rank=params.als_rank,
        maxIter=params.als_iterations,
        regParam=params.als_reg,
        implicitPrefs=implicit,
        alpha=params.als_alpha,
        userCol="user",
        itemCol="item",
        ratingCol="rating",
        seed=params.seed,
        coldStartStrategy="drop",
    )
    data = ratings.select(
        F.col("userId").cast("int").alias("user"),
        F.col("movieId").cast("int").alias("item"),
        F.col("rating").cast("float").alias("rating"),
    )
    return als.fit(data)


def _factors(frame: DataFrame) -> DataFrame:
    return frame.select(F.col("id").cast("long").alias("id"), F.col("features").cast("array<float>").alias("vector"))


def topn_recall(model: ALSModel, earlier: DataFrame, later: DataFrame, n: int, seed: int) -> tuple[float, int]:
    """Mean recall@n of ``later`` positives from ``model``'s factors, excluding movies seen in ``earlier``.

    Evaluated on at most ``CHECK_MAX_USERS`` users (a hash sample): only their factors, their seen
    movies and the item factors (catalogue-sized) are brought to the driver, never all ratings.
    Returns ``(recall, users evaluated)``.
    """
    positives = later.where(F.col("rating") >= F.lit(POSITIVE_RATING)).select("userId", "movieId")
    users = (
        positives.select("userId").distinct()
        .join(model.userFactors.select(F.col("id").cast("long").alias("userId")), "userId")
        .orderBy(F.hash("userId", F.lit(seed)), "userId")
        .limit(CHECK_MAX_USERS)
    )
    user_rows = users.join(_factors(model.userFactors).withColumnRenamed("id", "userId"), "userId").collect()
    if not user_rows:
        return 0.0, 0
    item_rows = _factors(model.itemFactors).collect()
    item_ids = np.array([r["id"] for r in item_rows], dtype=np.int64)
    item_mat = np.array([r["vector"] for r in item_rows], dtype=np.float32)
    col_of = {int(m): j for j, m in enumerate(item_ids)}
    user_ids = [int(r["userId"]) for r in user_rows]
    row_of = {u: i for i, u in enumerate(user_ids)}
    scores = np.array([r["vector"] for r in user_rows], dtype=np.float32) @ item_mat.T
    for r in earlier.join(users, "userId").select("userId", "movieId").collect():
        j = col_of.get(int(r["movieId"]))
        if j is not None:
            scores[row_of[int(r["userId"])], j] = -np.inf
    wanted: dict[int, set[int]] = {}
    for r in positives.join(users, "userId").collect():
        wanted.setdefault(int(r["userId"]), set()).add(int(r["movieId"]))
    k = min(n, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    recalls = [
        len(wanted[u] & {int(item_ids[j]) for j in top[row_of[u]]}) / len(wanted[u]) for u in user_ids if wanted.get(u)
    ]
    return (float(np.mean(recalls)) if recalls else 0.0), len(recalls)


def choose_implicit(train_ratings: DataFrame, params: PipelineParams, total: int | None = None) -> dict[str, Any]:
    """Compare implicit and explicit ALS on a time-ordered hold-out of train; return the report.

    Train sets over ``CHECK_MAX_RATINGS`` are compared on a hash sample of their users.
    ``total`` is ``train_ratings.count()`` when the caller already has it.
    """
    if not params.als_auto_select:
        return {"chosen": _kind(params.als_implicit), "reason": "fixed by params.als_implicit"}
    total = train_ratings.count() if total is None else total
    if total > CHECK_MAX_RATINGS:
        # the comparison needs users, not all of them: a hash sample of users (all their ratings) keeps
        # two extra ALS fits at a fixed cost instead of 2x the final fit's (~5 min each at 25M ratings)
        fraction = CHECK_MAX_RATINGS / total
        in_sample = (F.abs(F.hash("userId", F.lit(params.seed))) % 1_000_000) < int(fraction * 1_000_000)
        train_ratings = train_ratings.where(in_sample)
    (cut,) = train_ratings.approxQuantile("timestamp", [1.0 - HOLDOUT_FRACTION], 0.001)
    earlier = train_ratings.where(F.col("timestamp") < F.lit(int(cut)))
    later = train_ratings.where(F.col("timestamp") >= F.lit(int(cut)))
    results: dict[str, float] = {}
    users = 0
    blocks = als_blocks(min(total, CHECK_MAX_RATINGS), _parallelism(train_ratings))
    for implicit in (True, False):
        model = fit_als(earlier, params, implicit, blocks)
        results[_kind(implicit)], users = topn_recall(model, earlier, later, CHECK_TOP_N, params.seed)
    report: dict[str, Any] = {
        "metric": f"recall@{CHECK_TOP_N}",
        **results,
        "users": users,
        "holdout_from_ts": int(cut),
        "user_sample": total > CHECK_MAX_RATINGS,
    }
    if users < MIN_CHECK_USERS:
        report.update(chosen=_kind(params.als_implicit), reason=f"only {users} hold-out users; kept the default")
    else:
        best = "implicit" if results["implicit"] >= results["explicit"] else "explicit"
        report.update(chosen=best, reason="higher top-N recall on the latest part of train")
    return report


def als_embeddings(train_ratings: DataFrame, params: PipelineParams) -> dict[str, DataFrame]:
    """``{"als_item": ..., "als_user": ...}`` factor tables (``id long, vector array<float>``)."""
    global _last_report
    total = train_ratings.count()
    report = choose_implicit(train_ratings, params, total)
    log.info("ALS choice: %s", report)
    _last_report = report
    blocks = als_blocks(total, _parallelism(train_ratings))
    model = fit_als(train_ratings, params, report["chosen"] == "implicit", blocks)
    return {"als_item": _factors(model.itemFactors), "als_user": _factors(model.userFactors)}


def _parallelism(frame: DataFrame) -> int:
    return int(frame.sparkSession.sparkContext.defaultParallelism)


def _kind(implicit: bool) -> str:
    return "implicit" if implicit else "explicit"

"""offline.features: point-in-time correctness, feature_spec names and the serving snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from offline.features import build_movie_table, build_samples, build_user_snapshot
from offline.ingest import ingest
from sparrow.feature_spec import (
    ALL_FEATURES,
    MOVIE_TABLE_COLUMNS,
    SAMPLE_COLUMNS,
    USER_FEATURES,
    USER_TABLE_EXTRA_COLUMNS,
)

pytestmark = pytest.mark.spark
FEATURES = [f.name for f in ALL_FEATURES if f.name not in ("userId", "movieId")]


def _movies(spark):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(
        [(1, 1990, ["Drama"]), (2, 2000, ["Comedy"]), (3, 2010, ["Drama", "Comedy"]), (4, 1980, ["Horror"])],
        "movieId long, year int, genres array<string>",
    )


def _ratings(spark, rows):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(rows, "userId long, movieId long, rating float, timestamp long")


def test_sample_columns_and_hand_computed_values(spark) -> None:  # type: ignore[no-untyped-def]
    ratings = _ratings(spark, [(1, 1, 5.0, 10), (1, 2, 2.0, 20), (1, 3, 4.0, 30), (1, 4, 3.0, 40), (2, 4, 1.0, 5)])
    samples = build_samples(ratings, _movies(spark))
    assert tuple(samples.columns) == SAMPLE_COLUMNS
    rows = {(r["userId"], r["movieId"]): r for r in samples.collect()}
    first, last = rows[(1, 1)], rows[(1, 4)]
    assert first["userRatingCount"] == 0 and first["userRatedMovie1"] == 0 and first["userGenre1"] == ""
    assert last["userRatingCount"] == 3
    assert last["userAvgRating"] == pytest.approx((5 + 2 + 4) / 3)
    # newest earlier positive first; padding with MISSING_ID
    assert [last[f"userRatedMovie{i}"] for i in range(1, 6)] == [3, 1, 0, 0, 0]
    # positives: Drama (movie 1), Drama+Comedy (movie 3) -> Drama twice, Comedy once
    assert [last[f"userGenre{i}"] for i in range(1, 4)] == ["Drama", "Comedy", ""]
    assert last["userAvgReleaseYear"] == pytest.approx(2000.0)
    # movie 4 was rated by user 2 earlier (t=5): one earlier rating, not its own
    assert last["movieRatingCount"] == 1 and last["movieAvgRating"] == pytest.approx(1.0)
    assert rows[(2, 4)]["movieRatingCount"] == 0
    assert last["movieGenre1"] == "Horror" and last["movieGenre2"] == "" and last["movieReleaseYear"] == 1980
    assert last["label"] == 0 and rows[(1, 3)]["label"] == 1


def test_user_window_is_capped_at_100_previous_ratings(spark) -> None:  # type: ignore[no-untyped-def]
    movies = spark.createDataFrame(
        [(i, 2000, ["Drama"]) for i in range(1, 151)], "movieId long, year int, genres array<string>"
    )
    ratings = _ratings(spark, [(1, i, 4.0, i) for i in range(1, 151)])
    counts = {r["movieId"]: r["userRatingCount"] for r in build_samples(ratings, movies).collect()}
    assert counts[1] == 0 and counts[50] == 49 and counts[101] == 100 and counts[150] == 100


def test_no_feature_uses_its_own_or_a_later_rating(spark, synthetic_data: Path) -> None:  # type: ignore[no-untyped-def]
    """Flip every rating at or after time t; samples up to t must keep every feature value."""
    data = ingest(spark, synthetic_data)
    ratings, movies = data.ratings, data.movies
    stamps = ratings.groupBy("timestamp").count().where("count = 1").select("timestamp")
    (t,) = stamps.approxQuantile("timestamp", [0.5], 0.0)
    t = int(t)
    flipped = ratings.withColumn(
        "rating", F.when(F.col("timestamp") >= t, F.lit(5.5) - F.col("rating")).otherwise(F.col("rating"))
    ).withColumn("rating", F.col("rating").cast("float"))
    key = ["userId", "movieId"]
    before = build_samples(ratings, movies).select(*key, "timestamp", *FEATURES)
    after = build_samples(flipped, movies).select(*key, *[F.col(c).alias(f"new_{c}") for c in FEATURES])
    joined = before.join(after, key)
    assert joined.count() == ratings.count()
    differs = F.lit(False)
    for c in FEATURES:
        differs = differs | ~F.col(c).eqNullSafe(F.col(f"new_{c}"))
    early = joined.where(F.col("timestamp") <= t)
    assert early.where(F.col("timestamp") == t).count() == 1  # the sample at t itself is checked too
    assert early.count() > 100
    assert early.where(differs).count() == 0
    # the check can fail: samples after t do see the flipped ratings
    assert joined.where((F.col("timestamp") > t) & differs).count() > 0


def test_user_snapshot_and_movie_table(spark) -> None:  # type: ignore[no-untyped-def]
    movies = _movies(spark).withColumn("title", F.lit("x")).withColumn("imdbId", F.lit("0000001"))
    movies = movies.withColumn("tmdbId", F.lit(None).cast("string"))
    ratings = _ratings(spark, [(1, 1, 5.0, 10), (1, 2, 2.0, 20), (1, 3, 4.0, 30), (1, 4, 3.0, 40)])
    users = build_user_snapshot(ratings, movies)
    expected = [f.name for f in USER_FEATURES] + list(USER_TABLE_EXTRA_COLUMNS)
    assert sorted(users.columns) == sorted(expected)
    (u,) = users.collect()
    assert u["recentPositives"] == [3, 1]
    assert [r["movieId"] for r in u["recentRatings"]] == [4, 3, 2, 1]
    assert u["recentRatings"][0]["rating"] == 3.0 and u["recentRatings"][0]["timestamp"] == 40
    assert u["highestRating"] == 5.0 and u["lowestRating"] == 2.0
    assert u["userRatingCount"] == 4 and u["userRatedMovie1"] == 3 and u["userRatedMovie3"] == 0
    assert u["userGenre1"] == "Drama"

    table = build_movie_table(movies, ratings)
    assert tuple(table.columns) == MOVIE_TABLE_COLUMNS
    rows = {r["movieId"]: r for r in table.collect()}
    assert rows[1]["ratingCount"] == 1 and rows[1]["avgRating"] == 5.0 and rows[1]["ratingStddev"] == 0.0
    assert set(rows) == {1, 2, 3, 4}

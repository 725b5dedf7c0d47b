"""Step 2, features: point-in-time training samples, the movies table and the latest user snapshot.

Point-in-time means a sample's features see only what existed *before* its rating:

* user features come from the user's previous <= 100 ratings — a window ending at the row
  before (``rowsBetween(-100, -1)``) over the user's ratings ordered by (timestamp, movieId), so
  ties are broken the same way on every run;
* movie features (count, mean, stddev of ratings) come from every earlier rating of that movie
  by anyone (``rowsBetween(unboundedPreceding, -1)``), so neither the sample's own rating nor
  any later one — in train or test — leaks into them.

Column names come from :mod:`sparrow.feature_spec`; absent values use its defaults
(``MISSING_ID``, ``""``, ``0.0``). The serving tables use the same definitions computed "now".
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from sparrow.bundle import RECENT_POSITIVES_MAX
from sparrow.feature_spec import (
    LABEL,
    MISSING_GENRE,
    MISSING_ID,
    MOVIE_GENRES,
    MOVIE_TABLE_COLUMNS,
    POSITIVE_RATING,
    SAMPLE_COLUMNS,
    USER_GENRES,
    USER_HISTORY_WINDOW,
    USER_RECENT_MOVIES,
)


def _zero(col: Column) -> Column:
    """null/NaN (e.g. stddev of one value, mean of nothing) -> 0.0 as float32."""
    return F.coalesce(F.nanvl(col.cast("double"), F.lit(None).cast("double")), F.lit(0.0)).cast("float")


def top_genres(genres: Column, n: int) -> Column:
    """The ``n`` most frequent genres of an array (ties by name), as array<string>."""
    counted = F.transform(
        F.array_distinct(genres),
        lambda g: F.struct((-F.size(F.filter(genres, lambda x: x == g))).alias("n"), g.alias("g")),
    )
    return F.transform(F.slice(F.sort_array(counted), 1, n), lambda s: s["g"])


def top_genres_from_counts(counts: dict[str, Column], n: int) -> list[Column]:
    """The ``n`` genres with the highest (positive) counts, ties by name, padded with ``MISSING_GENRE``.

    No lambdas: Spark evaluates higher-order functions interpreted, which made the per-sample
    genre ranking the slowest part of the features step.
    """
    if not counts:
        return [F.lit(MISSING_GENRE) for _ in range(n)]
    ranked = F.sort_array(F.array(*[F.struct((-c).alias("n"), F.lit(g).alias("g")) for g, c in counts.items()]))
    return [F.when(F.get(ranked, i)["n"] < 0, F.get(ranked, i)["g"]).otherwise(F.lit(MISSING_GENRE))
            for i in range(n)]


def _pad(values: Column, names: list[str], default: object) -> list[Column]:
    """Spread an array over named columns, padding with ``default`` (``get`` is null past the end)."""
    return [F.coalesce(F.get(values, i), F.lit(default)).alias(name) for i, name in enumerate(names)]


def _with_movie_info(ratings: DataFrame, movies: DataFrame) -> DataFrame:
    info = movies.select("movieId", "year", "genres")
    return ratings.join(info, "movieId").withColumn(LABEL, (F.col("rating") >= POSITIVE_RATING).cast("int"))


def build_samples(ratings: DataFrame, movies: DataFrame) -> DataFrame:
    """One sample per rating with point-in-time user and movie features (``SAMPLE_COLUMNS``)."""
    r = _with_movie_info(ratings, movies)
    genres = sorted(row[0] for row in movies.select(F.explode("genres")).distinct().collect())
    before_user = (
        Window.partitionBy("userId").orderBy("timestamp", "movieId").rowsBetween(-USER_HISTORY_WINDOW, -1)
    )
    before_movie = (
        Window.partitionBy("movieId")
        .orderBy("timestamp", "userId")
        .rowsBetween(Window.unboundedPreceding, -1)
    )
    positive = F.col(LABEL) == 1
    r = r.select(
        "*",
        F.count("rating").over(before_user).alias("userRatingCount"),
        F.avg("rating").over(before_user).alias("userAvgRating"),
        F.stddev_samp("rating").over(before_user).alias("userRatingStddev"),
        F.avg("year").over(before_user).alias("userAvgReleaseYear"),
        F.stddev_samp("year").over(before_user).alias("userReleaseYearStddev"),
        # collect_list keeps frame order (oldest first) and skips the nulls of non-positives
        F.collect_list(F.when(positive, F.col("movieId"))).over(before_user).alias("_pos"),
        # one sliding count per genre: plain sums, far cheaper than collecting arrays of genres
        *[
            F.count(F.when(positive & F.array_contains("genres", g), 1)).over(before_user).alias(f"_genre{i}")
            for i, g in enumerate(genres)
        ],
        F.count("rating").over(before_movie).alias("movieRatingCount"),
        F.avg("rating").over(before_movie).alias("movieAvgRating"),
        F.stddev_samp("rating").over(before_movie).alias("movieRatingStddev"),
    )
    newest_first = F.slice(F.reverse(F.col("_pos")), 1, len(USER_RECENT_MOVIES))
    numeric = [
        "userRatingCount", "userAvgRating", "userRatingStddev", "userAvgReleaseYear", "userReleaseYearStddev",
        "movieRatingCount", "movieAvgRating", "movieRatingStddev",
    ]
    out = r.select(
        "userId",
        "movieId",
        *_pad(F.col("genres"), [f.name for f in MOVIE_GENRES], MISSING_GENRE),
        *[c.alias(f.name) for c, f in zip(
            top_genres_from_counts({g: F.col(f"_genre{i}") for i, g in enumerate(genres)}, len(USER_GENRES)),
            USER_GENRES, strict=True)],
        *_pad(newest_first, [f.name for f in USER_RECENT_MOVIES], MISSING_ID),
        *[_zero(F.col(c)).alias(c) for c in numeric],
        _zero(F.col("year")).alias("movieReleaseYear"),
        F.col(LABEL),
        F.col("rating").cast("float").alias("rating"),
        F.col("timestamp").cast("long").alias("timestamp"),
    )
    return out.select(*SAMPLE_COLUMNS)


def build_movie_table(movies: DataFrame, ratings: DataFrame) -> DataFrame:
    """movies.parquet (``MOVIE_TABLE_COLUMNS``): catalogue + rating stats over all ratings (serving "now")."""
    stats = ratings.groupBy("movieId").agg(
        F.count("rating").alias("ratingCount"),
        F.avg("rating").alias("avgRating"),
        F.stddev_samp("rating").alias("ratingStddev"),
    )
    out = movies.join(stats, "movieId", "left").select(
        F.col("movieId").cast("long"),
        "title",
        F.col("year").cast("int"),
        "genres",
        _zero(F.col("avgRating")).alias("avgRating"),
        F.coalesce(F.col("ratingCount"), F.lit(0)).cast("long").alias("ratingCount"),
        _zero(F.col("ratingStddev")).alias("ratingStddev"),
        "imdbId",
        "tmdbId",
    )
    return out.select(*MOVIE_TABLE_COLUMNS)


def build_user_snapshot(ratings: DataFrame, movies: DataFrame) -> DataFrame:
    """users.parquet: each user's features as of their latest rating, plus recent history for serving.

    Same definitions as :func:`build_samples`, evaluated for a hypothetical next rating: the
    last <= 100 ratings feed the model features; ``recentPositives``/``recentRatings`` hold up
    to 50 newest first.
    """
    r = _with_movie_info(ratings, movies)
    newest = [F.col("timestamp").desc(), F.col("movieId").desc()]
    r = r.withColumn("_rn", F.row_number().over(Window.partitionBy("userId").orderBy(*newest)))
    r = r.withColumn("_prn", F.row_number().over(Window.partitionBy("userId", LABEL).orderBy(*newest)))
    window = F.col("_rn") <= USER_HISTORY_WINDOW
    positive = F.col(LABEL) == 1

    def in_window(col: str) -> Column:
        return F.when(window, F.col(col))

    users = r.groupBy("userId").agg(
        F.max("rating").cast("float").alias("highestRating"),
        F.min("rating").cast("float").alias("lowestRating"),
        F.count(in_window("rating")).alias("userRatingCount"),
        F.avg(in_window("rating")).alias("userAvgRating"),
        F.stddev_samp(in_window("rating")).alias("userRatingStddev"),
        F.avg(in_window("year")).alias("userAvgReleaseYear"),
        F.stddev_samp(in_window("year")).alias("userReleaseYearStddev"),
        F.flatten(F.collect_list(F.when(window & positive, F.col("genres")))).alias("_pos_genres"),
        F.sort_array(
            F.collect_list(F.when(window & positive & (F.col("_prn") <= len(USER_RECENT_MOVIES)),
                                  F.struct("_prn", "movieId")))
        ).alias("_recent5"),
        F.sort_array(
            F.collect_list(F.when(positive & (F.col("_prn") <= RECENT_POSITIVES_MAX), F.struct("_prn", "movieId")))
        ).alias("_positives"),
        F.sort_array(
            F.collect_list(
                F.when(
                    F.col("_rn") <= RECENT_POSITIVES_MAX,
                    F.struct("_rn", "movieId", F.col("rating").cast("float").alias("rating"), "timestamp"),
                )
            )
        ).alias("_recent"),
    )
    numeric = ["userRatingCount", "userAvgRating", "userRatingStddev", "userAvgReleaseYear", "userReleaseYearStddev"]
    return users.select(
        F.col("userId").cast("long"),
        *_pad(top_genres(F.col("_pos_genres"), len(USER_GENRES)), [f.name for f in USER_GENRES], MISSING_GENRE),
        *_pad(F.transform("_recent5", lambda s: s["movieId"]), [f.name for f in USER_RECENT_MOVIES], MISSING_ID),
        *[_zero(F.col(c)).alias(c) for c in numeric],
        "highestRating",
        "lowestRating",
        F.transform("_positives", lambda s: s["movieId"]).alias("recentPositives"),
        F.transform(
            "_recent", lambda s: F.struct(s["movieId"].alias("movieId"), s["rating"].alias("rating"),
                                          s["timestamp"].alias("timestamp"))
        ).alias("recentRatings"),
    )

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

from pyspark.sql import Column, DataFrame, Window, WindowSpec
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

YEAR_ORIGIN = 1990


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


def rank_genre_counts(counts: dict[str, Column]) -> Column:
    """``array<struct<n, g>>`` of (-count, genre), best first (ties by name): input of :func:`top_genres_ranked`.

    No lambdas: Spark evaluates higher-order functions interpreted, which made the per-sample
    genre ranking the slowest part of the features step.
    """
    return F.sort_array(F.array(*[F.struct((-c).alias("n"), F.lit(g).alias("g")) for g, c in counts.items()]))


def top_genres_ranked(ranked: Column, n: int) -> list[Column]:
    """The first ``n`` genres of a :func:`rank_genre_counts` column with a positive count, padded with
    ``MISSING_GENRE``. Pass a column (``F.col``) holding the ranked array, so the sort is written once."""
    return [F.when(F.get(ranked, i)["n"] < 0, F.get(ranked, i)["g"]).otherwise(F.lit(MISSING_GENRE))
            for i in range(n)]


def _pad(values: Column, names: list[str], default: object) -> list[Column]:
    """Spread an array over named columns, padding with ``default`` (``get`` is null past the end)."""
    return [F.coalesce(F.get(values, i), F.lit(default)).alias(name) for i, name in enumerate(names)]


def _with_movie_info(ratings: DataFrame, movies: DataFrame) -> DataFrame:
    info = movies.select("movieId", "year", "genres")
    return ratings.join(info, "movieId").withColumn(LABEL, (F.col("rating") >= POSITIVE_RATING).cast("int"))


def _window_sum(value: Column, running_to_prev: WindowSpec, running_to_out: WindowSpec) -> Column:
    """Sum of ``value`` over the previous ``USER_HISTORY_WINDOW`` rows, as a difference of two running sums.

    Spark re-aggregates a bounded ``rowsBetween(-100, -1)`` frame from scratch for every row (O(100)
    work per row and aggregate; ~30 aggregates made the features step take 12+ min at 2.5M ratings),
    while frames that start at ``unboundedPreceding`` are updated incrementally. Values summed here are
    small integers or multiples of 0.5 (and their squares), so the difference is exact in a double.
    """
    return F.coalesce(F.sum(value).over(running_to_prev), F.lit(0)) - F.coalesce(
        F.sum(value).over(running_to_out), F.lit(0)
    )


def _stddev_samp(n: Column, total: Column, squares: Column) -> Column:
    """Sample standard deviation from count, sum and sum of squares (null below two values)."""
    variance = F.try_divide(squares - F.try_divide(total * total, n), n - 1)
    return F.when(n >= 2, F.sqrt(F.greatest(variance, F.lit(0.0))))


def build_samples(ratings: DataFrame, movies: DataFrame) -> DataFrame:
    """One sample per rating with point-in-time user and movie features (``SAMPLE_COLUMNS``)."""
    r = _with_movie_info(ratings, movies)
    genres = sorted(row[0] for row in movies.select(F.explode("genres")).distinct().collect())
    by_user = Window.partitionBy("userId").orderBy("timestamp", "movieId")
    to_prev = by_user.rowsBetween(Window.unboundedPreceding, -1)
    to_out = by_user.rowsBetween(Window.unboundedPreceding, -(USER_HISTORY_WINDOW + 1))
    before_movie = (
        Window.partitionBy("movieId")
        .orderBy("timestamp", "userId")
        .rowsBetween(Window.unboundedPreceding, -1)
    )
    positive = F.col(LABEL) == 1
    rating = F.col("rating").cast("double")
    # years are centred so their squares stay small; integers, so the sums stay exact anyway
    year = (F.col("year") - YEAR_ORIGIN).cast("double")

    def wsum(value: Column) -> Column:
        return _window_sum(value, to_prev, to_out)

    # movie statistics first, while rows are narrow: the shuffle by movieId then moves 3 more columns
    # instead of the ~60 of the user window's output (samples at 2.5M ratings: 150 -> 128 s)
    r = r.select(
        "*",
        F.count("rating").over(before_movie).alias("movieRatingCount"),
        F.avg("rating").over(before_movie).alias("movieAvgRating"),
        F.stddev_samp("rating").over(before_movie).alias("movieRatingStddev"),
    )
    # Two window operators over the same user order, not one: a single operator with ~55 window functions
    # generates methods too large for the JIT (hence also -XX:-DontCompileHugeMethods in spark_session:
    # 128 -> 81 s at 2.5M; the split: 81 -> 76 s). The lags read `_pos`, which reads `_rn`, so Spark
    # cannot merge the second operator into the first.
    r = r.select(
        "*",
        F.row_number().over(by_user).alias("_rn"),
        # one sliding count per genre: plain sums, far cheaper than collecting arrays of genres
        *[wsum(F.when(positive & F.array_contains("genres", g), 1).otherwise(0)).alias(f"_genre{i}")
          for i, g in enumerate(genres)],
    )
    # the latest earlier positive (its row number and movie) k positives back, nulls (negatives) skipped
    r = r.withColumn("_pos", F.when(positive, F.struct(F.col("_rn").alias("rn"), F.col("movieId").alias("id"))))
    order = "PARTITION BY userId ORDER BY timestamp, movieId"
    r = r.select(
        "*",
        wsum(F.lit(1)).alias("_n"),
        wsum(rating).alias("_s1"),
        wsum(rating * rating).alias("_s2"),
        wsum(F.when(F.col("year").isNotNull(), 1).otherwise(0)).alias("_ny"),
        wsum(F.coalesce(year, F.lit(0.0))).alias("_y1"),
        wsum(F.coalesce(year * year, F.lit(0.0))).alias("_y2"),
        *[F.expr(f"lag(_pos, {k}) IGNORE NULLS OVER ({order})").alias(f"_p{k}")
          for k in range(1, len(USER_RECENT_MOVIES) + 1)],
    )
    n, ny = F.col("_n"), F.col("_ny")
    user_stats = {
        "userRatingCount": n,
        "userAvgRating": F.try_divide(F.col("_s1"), n),
        "userRatingStddev": _stddev_samp(n, F.col("_s1"), F.col("_s2")),
        "userAvgReleaseYear": F.try_divide(F.col("_y1"), ny) + YEAR_ORIGIN,
        "userReleaseYearStddev": _stddev_samp(ny, F.col("_y1"), F.col("_y2")),
    }
    # an earlier positive counts only while it is within the previous USER_HISTORY_WINDOW ratings
    recent = [F.when(F.col(f"_p{k}.rn") >= F.col("_rn") - USER_HISTORY_WINDOW, F.col(f"_p{k}.id"))
              for k in range(1, len(USER_RECENT_MOVIES) + 1)]
    movie_stats = ["movieRatingCount", "movieAvgRating", "movieRatingStddev"]
    genre_counts = {g: F.col(f"_genre{i}") for i, g in enumerate(genres)}
    r = r.withColumn("_genres", rank_genre_counts(genre_counts) if genres else F.array().cast(
        "array<struct<n:bigint,g:string>>"))
    out = r.select(
        "userId",
        "movieId",
        *_pad(F.col("genres"), [f.name for f in MOVIE_GENRES], MISSING_GENRE),
        *[c.alias(f.name) for c, f in zip(top_genres_ranked(F.col("_genres"), len(USER_GENRES)), USER_GENRES,
                                          strict=True)],
        *[F.coalesce(c, F.lit(MISSING_ID)).alias(f.name) for c, f in zip(recent, USER_RECENT_MOVIES, strict=True)],
        *[_zero(c).alias(name) for name, c in user_stats.items()],
        *[_zero(F.col(c)).alias(c) for c in movie_stats],
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
    to 50 newest first; ``ratedMovies`` every movie the user rated (the online seen-filter).
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
        F.array_sort(F.collect_set("movieId")).alias("ratedMovies"),
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
        "ratedMovies",
    )

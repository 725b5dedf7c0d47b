"""The ranking-model feature contract: the one module that names model inputs and table columns.

Training samples (written by Spark), the users/movies tables of the bundle and the serving
batch the online ranker feeds to a SavedModel all use these names. Models take *raw* values
(ids, genre strings, unscaled numbers); lookups and normalisation happen inside the model
with Keras preprocessing layers, so nothing here transforms values beyond dtype and defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MISSING_ID = 0  # padding for absent recent movies (MovieLens ids start at 1)
MISSING_GENRE = ""  # padding for absent genres
POSITIVE_RATING = 3.5  # label = rating >= 3.5, as in SparrowRecSys
N_MOVIE_GENRES = 3
N_USER_GENRES = 5
N_RECENT_MOVIES = 5
USER_HISTORY_WINDOW = 100  # user features of a sample use at most this many previous ratings


@dataclass(frozen=True)
class Feature:
    """One model input: its name, dtype (numpy name) and per-example shape (() = scalar)."""

    name: str
    dtype: str
    default: Any
    shape: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


def _numeric(name: str) -> Feature:
    return Feature(name, "float32", 0.0)


USER_ID = Feature("userId", "int64", MISSING_ID)
MOVIE_ID = Feature("movieId", "int64", MISSING_ID)
MOVIE_GENRES = tuple(Feature(f"movieGenre{i}", "string", MISSING_GENRE) for i in range(1, N_MOVIE_GENRES + 1))
USER_GENRES = tuple(Feature(f"userGenre{i}", "string", MISSING_GENRE) for i in range(1, N_USER_GENRES + 1))
# newest first: userRatedMovie1 is the most recent earlier positive
USER_RECENT_MOVIES = tuple(Feature(f"userRatedMovie{i}", "int64", MISSING_ID) for i in range(1, N_RECENT_MOVIES + 1))
MOVIE_NUMERIC = tuple(
    _numeric(n) for n in ("movieRatingCount", "movieAvgRating", "movieRatingStddev", "movieReleaseYear")
)
USER_NUMERIC = tuple(
    _numeric(n)
    for n in ("userRatingCount", "userAvgRating", "userRatingStddev", "userAvgReleaseYear", "userReleaseYearStddev")
)

ALL_FEATURES: tuple[Feature, ...] = (
    USER_ID,
    MOVIE_ID,
    *MOVIE_GENRES,
    *USER_GENRES,
    *USER_RECENT_MOVIES,
    *MOVIE_NUMERIC,
    *USER_NUMERIC,
)
FEATURES_BY_NAME = {f.name: f for f in ALL_FEATURES}
USER_FEATURES: tuple[Feature, ...] = (USER_ID, *USER_GENRES, *USER_RECENT_MOVIES, *USER_NUMERIC)
MOVIE_FEATURES: tuple[Feature, ...] = (MOVIE_ID, *MOVIE_GENRES, *MOVIE_NUMERIC)

# Columns of a training/test sample beyond the features.
LABEL = "label"
RATING = "rating"
TIMESTAMP = "timestamp"
SAMPLE_COLUMNS = (*(f.name for f in ALL_FEATURES), LABEL, RATING, TIMESTAMP)

# movies.parquet columns (bundle) -> the model feature they feed.
MOVIE_TABLE_TO_FEATURE = {
    "movieId": "movieId",
    "ratingCount": "movieRatingCount",
    "avgRating": "movieAvgRating",
    "ratingStddev": "movieRatingStddev",
    "year": "movieReleaseYear",
}
MOVIE_TABLE_COLUMNS = (
    "movieId", "title", "year", "genres", "avgRating", "ratingCount", "ratingStddev", "imdbId", "tmdbId",
)
# users.parquet holds every USER_FEATURES column under its feature name, plus these.
USER_TABLE_EXTRA_COLUMNS = (
    "highestRating",  # float
    "lowestRating",  # float
    "recentPositives",  # list<int64>, <= 50 newest first
    "recentRatings",  # list<struct{movieId: int64, rating: float, timestamp: int64}>, <= 50 newest first
    # list<int64>, every movie the user ever rated (ascending): the online seen-filter. The 50 recent
    # ratings alone let already-rated movies through (27% of DeepFM's top-10 on the temporal split)
    "ratedMovies",
)


def feature_spec() -> list[dict[str, Any]]:
    """The manifest form of the serving inputs: ``[{name, dtype, shape}]``."""
    return [f.as_dict() for f in ALL_FEATURES]


def user_features_from_history(
    user_id: int,
    snapshot: Mapping[str, Any] | None,
    realtime_positives: Sequence[int] = (),
) -> dict[str, Any]:
    """User feature values for serving: the offline snapshot, with real-time positives put first.

    ``realtime_positives`` (newest first) come from the nearline history, so a rating posted a
    moment ago already changes the ``userRatedMovie*`` inputs of the next request.
    """
    values: dict[str, Any] = {f.name: f.default for f in USER_FEATURES}
    if snapshot:
        values.update({k: v for k, v in snapshot.items() if k in values and v is not None})
    values[USER_ID.name] = int(user_id)
    if realtime_positives:
        offline = [values[f.name] for f in USER_RECENT_MOVIES if values[f.name] != MISSING_ID]
        merged: list[int] = []
        for movie_id in [*realtime_positives, *offline]:
            if movie_id not in merged:
                merged.append(int(movie_id))
        for feature, movie_id in zip(USER_RECENT_MOVIES, merged + [MISSING_ID] * N_RECENT_MOVIES, strict=False):
            values[feature.name] = movie_id
    return values


def serving_batch(user: Mapping[str, Any], movies: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One ranking batch: the user's features repeated for every candidate movie.

    ``user`` is what :func:`user_features_from_history` returns; ``movies`` holds candidate
    columns keyed by model feature name (``movieId``, ``movieGenre1``.., numeric stats), all of
    the same length. Returns ``{feature name: array}`` with the spec's dtypes, ready for
    ``signature(**{k: tf.constant(v)})``.
    """
    n = len(movies[MOVIE_ID.name])
    batch: dict[str, np.ndarray] = {}
    for feature in ALL_FEATURES:
        if feature in USER_FEATURES:
            value = user.get(feature.name, feature.default)
            batch[feature.name] = np.full(n, value if value is not None else feature.default, dtype=_np_dtype(feature))
        else:
            column = movies.get(feature.name)
            batch[feature.name] = (
                np.full(n, feature.default, dtype=_np_dtype(feature))
                if column is None
                else np.asarray(column).astype(_np_dtype(feature))
            )
    return batch


def movie_feature_arrays(movie_table: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray]:
    """Model movie features from movies.parquet columns (``genres`` lists split into movieGenre1..3)."""
    out: dict[str, np.ndarray] = {}
    for column, feature in MOVIE_TABLE_TO_FEATURE.items():
        spec = FEATURES_BY_NAME[feature]
        raw = np.asarray(movie_table[column], dtype=object)
        out[feature] = np.array([spec.default if _is_missing(v) else v for v in raw]).astype(_np_dtype(spec))
    genres = list(movie_table["genres"])
    for i, feature in enumerate(MOVIE_GENRES):
        out[feature.name] = np.array(
            [(list(g)[i] if g is not None and len(g) > i else MISSING_GENRE) for g in genres], dtype=object
        )
    return out


def _is_missing(value: Any) -> bool:
    """None, NaN, or pandas' NA (a nullable ``Int64`` column read back from Parquet)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:  # pandas.NA refuses bool(); it is missing by definition
        return True


def _np_dtype(feature: Feature) -> Any:
    return object if feature.dtype == "string" else np.dtype(feature.dtype)

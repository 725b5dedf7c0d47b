"""The model feature contract: serving batches and real-time history overlay."""

from __future__ import annotations

import numpy as np

from sparrow import feature_spec as F


def test_spec_lists_every_feature_once_with_dtype() -> None:
    names = [f["name"] for f in F.feature_spec()]
    assert len(names) == len(set(names)) == len(F.ALL_FEATURES)
    assert {"userId", "movieId", "movieGenre1", "userRatedMovie5", "userAvgRating"} <= set(names)
    assert set(F.SAMPLE_COLUMNS) >= set(names) | {F.LABEL}


def test_realtime_positives_come_first_without_duplicates() -> None:
    snapshot = {"userRatedMovie1": 10, "userRatedMovie2": 11, "userAvgRating": 3.9, "unrelated": 1}
    values = F.user_features_from_history(7, snapshot, realtime_positives=[99, 10])
    recent = [values[f"userRatedMovie{i}"] for i in range(1, 6)]
    assert recent == [99, 10, 11, F.MISSING_ID, F.MISSING_ID]
    assert values["userId"] == 7 and values["userAvgRating"] == 3.9 and "unrelated" not in values


def test_cold_user_gets_defaults() -> None:
    values = F.user_features_from_history(5, None)
    assert values["userRatedMovie1"] == F.MISSING_ID and values["userGenre1"] == F.MISSING_GENRE


def test_serving_batch_repeats_user_and_types_columns() -> None:
    table = {
        "movieId": [1, 2, 3],
        "ratingCount": [10, 0, 5],
        "avgRating": [4.0, None, 3.5],
        "ratingStddev": [0.5, 0.0, 1.0],
        "year": [1995, None, 2001],
        "genres": [["Action", "Crime"], [], None],
    }
    movies = F.movie_feature_arrays(table)
    user = F.user_features_from_history(7, {"userGenre1": "Drama"})
    batch = F.serving_batch(user, movies)
    assert set(batch) == {f.name for f in F.ALL_FEATURES}
    assert batch["userId"].dtype == np.int64 and batch["userId"].tolist() == [7, 7, 7]
    assert batch["movieAvgRating"].dtype == np.float32 and batch["movieAvgRating"].tolist() == [4.0, 0.0, 3.5]
    assert batch["movieGenre2"].tolist() == ["Crime", "", ""]
    assert batch["userGenre1"].tolist() == ["Drama"] * 3

"""offline.split: a global time cut — everything in train happened before everything in test."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from offline.features import build_samples
from offline.ingest import ingest
from offline.split import SplitError, split_by_time, time_cut

pytestmark = pytest.mark.spark


def test_time_split_has_no_overlap(spark, synthetic_data: Path) -> None:  # type: ignore[no-untyped-def]
    data = ingest(spark, synthetic_data)
    cut = time_cut(data.ratings, 0.8)
    train, test = split_by_time(build_samples(data.ratings, data.movies), cut)
    n_train, n_test, n_all = train.count(), test.count(), data.ratings.count()
    assert n_train + n_test == n_all
    assert 0.75 < n_train / n_all < 0.85
    assert train.agg(F.max("timestamp")).first()[0] < cut <= test.agg(F.min("timestamp")).first()[0]


def test_bad_quantile_is_refused(spark) -> None:  # type: ignore[no-untyped-def]
    ratings = spark.createDataFrame([(1, 1, 4.0, 10)], "userId long, movieId long, rating float, timestamp long")
    with pytest.raises(SplitError):
        time_cut(ratings, 1.5)

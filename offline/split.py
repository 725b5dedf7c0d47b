"""Step 3, split: one global time cut — train on what happened before it, test on what came after.

A random split would let the model see a user's future while predicting their past; a time
cut reproduces how the model is used (trained on history, asked about what comes next).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# approxQuantile's relative error: exact enough for a cut, cheap on 25M rows
_QUANTILE_ERROR = 1e-4


class SplitError(RuntimeError):
    """The time cut leaves the train or the test side empty."""


def time_cut(ratings: DataFrame, quantile: float) -> int:
    """The timestamp at ``quantile`` of all rating timestamps (train: ``< cut``, test: ``>= cut``)."""
    if not 0.0 < quantile < 1.0:
        raise SplitError(f"train_quantile must be in (0, 1), got {quantile}")
    (cut,) = ratings.approxQuantile("timestamp", [quantile], _QUANTILE_ERROR)
    return int(cut)


def before(df: DataFrame, cut: int) -> DataFrame:
    """Rows strictly before the cut (training data for samples, embeddings and ALS)."""
    return df.where(F.col("timestamp") < F.lit(cut))


def after(df: DataFrame, cut: int) -> DataFrame:
    """Rows at or after the cut (evaluation only)."""
    return df.where(F.col("timestamp") >= F.lit(cut))


def split_by_time(samples: DataFrame, cut: int) -> tuple[DataFrame, DataFrame]:
    """``(train, test)`` around the global time cut."""
    return before(samples, cut), after(samples, cut)

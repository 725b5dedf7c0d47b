"""Read Spark's Parquet samples into column arrays and tf.data pipelines.

Columns are read with pyarrow (all part files of a directory at once, nulls filled with the
feature defaults) and turned into one numpy array per feature; ``tf.data`` slices those arrays
into shuffled batches in C++, so no Python runs per row. ml-latest-small (~100k samples) takes
well under a second to load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from sparrow.feature_spec import ALL_FEATURES, LABEL, RATING, TIMESTAMP, Feature


@dataclass
class Samples:
    """Feature columns ``{name: array}`` (spec dtypes; strings as object arrays) and labels."""

    features: dict[str, np.ndarray]
    label: np.ndarray  # float32 0/1
    rating: np.ndarray | None = None
    timestamp: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.label)

    def take(self, index: np.ndarray) -> Samples:
        """The rows at ``index`` (a numpy index array)."""
        return Samples(
            {k: v[index] for k, v in self.features.items()},
            self.label[index],
            None if self.rating is None else self.rating[index],
            None if self.timestamp is None else self.timestamp[index],
        )


def _column(table: pa.Table, feature: Feature) -> np.ndarray:
    if feature.name not in table.column_names:
        raise ValueError(
            f"sample Parquet has no column {feature.name!r} (see sparrow.feature_spec.SAMPLE_COLUMNS)"
        )
    col = pc.fill_null(table.column(feature.name), feature.default)
    if feature.dtype == "string":
        return col.cast(pa.string()).to_numpy(zero_copy_only=False).astype(object)
    return col.cast(pa.from_numpy_dtype(np.dtype(feature.dtype))).to_numpy(zero_copy_only=False)


def load_samples(path: Path) -> Samples:
    """All samples of a Parquet file or directory of part files (Spark output; ``_SUCCESS`` is ignored)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"samples not found: {path}")
    table = ds.dataset(str(path), format="parquet", exclude_invalid_files=True).to_table()
    if table.num_rows == 0:
        raise ValueError(f"no samples in {path}")
    features = {f.name: _column(table, f) for f in ALL_FEATURES}
    label = pc.fill_null(table.column(LABEL), 0).cast(pa.float32()).to_numpy(zero_copy_only=False)
    rating = (
        table.column(RATING).cast(pa.float32()).to_numpy(zero_copy_only=False)
        if RATING in table.column_names
        else None
    )
    timestamp = (
        table.column(TIMESTAMP).cast(pa.int64()).to_numpy(zero_copy_only=False)
        if TIMESTAMP in table.column_names
        else None
    )
    return Samples(features, label.astype(np.float32), rating, timestamp)


def to_dataset(samples: Samples, batch_size: int, shuffle: bool = False, seed: int = 0):  # type: ignore[no-untyped-def]
    """``tf.data.Dataset`` of ``(features dict, label)`` batches; reshuffled every epoch when ``shuffle``."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((samples.features, samples.label))
    if shuffle:
        data = data.shuffle(len(samples), seed=seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)

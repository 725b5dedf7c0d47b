"""Read Spark's Parquet samples: part files, column-wise conversion to spec dtypes, small in-memory reads.

Training never loads a whole split: :mod:`offline.models.stream` reads it in batches, converting
columns with :func:`feature_array`. :func:`load_samples` materialises a split (or a few of its
columns) in memory: for small data (tests, ad-hoc analysis) and for the baselines, which need
only two numeric columns and the label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from sparrow.feature_spec import ALL_FEATURES, LABEL, RATING, TIMESTAMP, Feature

# pyarrow types per spec dtype: strings stay strings (tf.string accepts numpy object arrays of str)
_ARROW_TYPES = {"string": pa.string(), "int64": pa.int64(), "float32": pa.float32()}


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


def part_files(path: Path) -> list[str]:
    """The Parquet part files of a Spark output directory (or one file), sorted by name.

    Spark's ``_SUCCESS`` and hidden ``.crc`` files are skipped (pyarrow ignores ``_``/``.`` prefixes)
    and so is any file that is not Parquet.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"samples not found: {path}")
    files = sorted(ds.dataset(str(path), format="parquet", exclude_invalid_files=True).files)
    if not files:
        raise ValueError(f"no Parquet part files in {path}")
    return files


def _arrow_type(feature: Feature) -> pa.DataType:
    return _ARROW_TYPES.get(feature.dtype) or pa.from_numpy_dtype(np.dtype(feature.dtype))


def feature_array(data: pa.Table | pa.RecordBatch, feature: Feature) -> np.ndarray:
    """One feature column as numpy: nulls filled with the feature's default, cast to its spec dtype."""
    if feature.name not in data.schema.names:
        raise ValueError(
            f"sample Parquet has no column {feature.name!r} (see sparrow.feature_spec.SAMPLE_COLUMNS)"
        )
    col = pc.fill_null(data.column(feature.name), feature.default).cast(_arrow_type(feature))
    values = col.to_numpy(zero_copy_only=False)
    return values.astype(object, copy=False) if feature.dtype == "string" else values


def label_column(data: pa.Table | pa.RecordBatch) -> np.ndarray:
    """The 0/1 label as float32 (a null label counts as negative)."""
    return pc.fill_null(data.column(LABEL), 0).cast(pa.float32()).to_numpy(zero_copy_only=False)


def feature_arrays(
    data: pa.Table | pa.RecordBatch, features: Sequence[Feature] = ALL_FEATURES
) -> dict[str, np.ndarray]:
    """``{name: numpy column}`` of ``features`` (column-wise pyarrow kernels, no per-row Python)."""
    return {f.name: feature_array(data, f) for f in features}


def load_samples(path: Path, features: Sequence[Feature] = ALL_FEATURES, meta: bool = True) -> Samples:
    """All samples of a Parquet file or directory of part files, in memory (small data only).

    Only the columns of ``features`` and the label (plus rating and timestamp when ``meta``) are
    read, so two numeric features of a 25M-row split cost ~200 MB, not the ~14 GB of every column.
    """
    files = part_files(path)
    dataset = ds.dataset(files, format="parquet")
    names = dataset.schema.names
    missing = [f.name for f in features if f.name not in names]
    if missing:
        raise ValueError(f"sample Parquet has no columns {missing} (see sparrow.feature_spec.SAMPLE_COLUMNS)")
    extra = [c for c in (RATING, TIMESTAMP) if meta and c in names]
    table = dataset.to_table(columns=[*(f.name for f in features), LABEL, *extra])
    if table.num_rows == 0:
        raise ValueError(f"no samples in {path}")

    def meta_column(name: str, dtype: pa.DataType) -> np.ndarray | None:
        return table.column(name).cast(dtype).to_numpy(zero_copy_only=False) if name in extra else None

    return Samples(
        feature_arrays(table, features),
        label_column(table),
        meta_column(RATING, pa.float32()),
        meta_column(TIMESTAMP, pa.int64()),
    )

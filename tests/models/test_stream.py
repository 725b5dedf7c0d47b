"""Streaming samples from Parquet: every row once per epoch, shuffled epochs, spec dtypes and defaults,
file-order evaluation, and vocabularies equal to the in-memory ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from synthetic_samples import make_samples

from offline.models.dataset import load_samples
from offline.models.evaluate import BASELINE_FEATURES
from offline.models.layers import FeatureVocab
from offline.models.stream import ParquetSamples
from sparrow import feature_spec as fs

N_ROWS = 1_000
FILE_ROWS = (420, 330, 250)  # three part files ...
ROW_GROUP_ROWS = 150  # ... of several row groups each
# row -> columns set to null there (the stream must fill the feature default)
NULLS = {3: ("movieGenre2", "userRatedMovie3"), 500: ("movieAvgRating", "userGenre1"), 999: ("movieId",)}


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Spark-like directory: 3 part files, 8 row groups, ``_SUCCESS`` and a hidden ``.crc``;
    ``userId`` is the row number + 1, so a row can be recognised after shuffling."""
    cols = make_samples(users=50, movies=80, per_user=N_ROWS // 50, seed=7)
    cols[fs.USER_ID.name] = np.arange(1, N_ROWS + 1, dtype=np.int64)
    arrays = {}
    for name in fs.SAMPLE_COLUMNS:
        null = np.zeros(N_ROWS, bool)
        null[[row for row, names in NULLS.items() if name in names]] = True
        arrays[name] = pa.array(cols[name], mask=null)
    table = pa.table(arrays)
    folder = tmp_path_factory.mktemp("parts")
    start = 0
    for i, rows in enumerate(FILE_ROWS):
        part = folder / f"part-0000{i}.snappy.parquet"
        pq.write_table(table.slice(start, rows), part, row_group_size=ROW_GROUP_ROWS)
        start += rows
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00000.snappy.parquet.crc").write_bytes(b"\x00crc")
    return folder


def _epoch(dataset: tf.data.Dataset) -> tuple[list[int], list[int], np.ndarray]:
    """(userIds in order, batch sizes, labels) of one pass."""
    ids, sizes, labels = [], [], []
    for features, label in dataset:
        ids += features[fs.USER_ID.name].numpy().tolist()
        sizes.append(len(label))
        labels.append(label.numpy())
    return ids, sizes, np.concatenate(labels)


def test_pieces_are_the_row_groups_of_the_part_files(parts: Path) -> None:
    samples = ParquetSamples(parts)
    assert len(samples) == N_ROWS
    assert len(samples.pieces) == sum(-(-rows // ROW_GROUP_ROWS) for rows in FILE_ROWS) == 8
    assert {Path(p.path).name for p in samples.pieces} == {f"part-0000{i}.snappy.parquet" for i in range(3)}


@pytest.mark.parametrize("buffer", [1, 200, 10_000])
def test_an_epoch_yields_every_row_exactly_once_in_full_batches(parts: Path, buffer: int) -> None:
    samples = ParquetSamples(parts)
    ids, sizes, labels = _epoch(samples.to_dataset(64, shuffle=True, seed=5, shuffle_buffer=buffer))
    assert sorted(ids) == list(range(1, N_ROWS + 1))
    assert sizes == [64] * (N_ROWS // 64) + [N_ROWS % 64]  # like batch(64): only the last one short
    assert labels.dtype == np.float32
    assert labels.sum() == pq.read_table(parts, columns=[fs.LABEL]).column(0).to_numpy().sum()


def test_batches_have_spec_dtypes_and_null_defaults(parts: Path) -> None:
    dataset = ParquetSamples(parts).to_dataset(128, shuffle=True, seed=1, shuffle_buffer=300)
    seen: dict[int, dict[str, object]] = {}
    for features, _ in dataset:
        assert set(features) == {f.name for f in fs.ALL_FEATURES}
        for f in fs.ALL_FEATURES:
            assert features[f.name].dtype == tf.dtypes.as_dtype(f.dtype), f.name
        ids = features[fs.USER_ID.name].numpy()
        for row in NULLS:
            hit = np.flatnonzero(ids == row + 1)
            if len(hit):
                seen[row] = {k: v.numpy()[hit[0]] for k, v in features.items()}
    assert set(seen) == set(NULLS)
    for row, names in NULLS.items():
        for name in names:
            default = fs.FEATURES_BY_NAME[name].default
            value = seen[row][name]
            assert (value.decode() if isinstance(value, bytes) else value) == default, (row, name)


def test_epochs_are_reshuffled_but_reproducible(parts: Path) -> None:
    samples = ParquetSamples(parts)
    dataset = samples.to_dataset(100, shuffle=True, seed=3, shuffle_buffer=250)
    first, second = _epoch(dataset)[0], _epoch(dataset)[0]
    assert sorted(first) == sorted(second) == list(range(1, N_ROWS + 1))
    assert first != second, "every epoch must come in a new order"
    file_order = [i for features, _ in samples.batches(100) for i in features[fs.USER_ID.name].tolist()]
    assert first != file_order and second != file_order
    # rows of one window come from several row groups: the first batch is not one piece's run of rows
    assert np.ptp(first[:100]) > ROW_GROUP_ROWS
    again = samples.to_dataset(100, shuffle=True, seed=3, shuffle_buffer=250)
    assert _epoch(again)[0] == first, "the same seed gives the same epochs"


def test_evaluation_batches_keep_file_order_and_every_value(parts: Path) -> None:
    memory = load_samples(parts)
    batches = list(ParquetSamples(parts).to_dataset(64))
    assert [len(label) for _, label in batches] == [64] * (N_ROWS // 64) + [N_ROWS % 64]  # across row groups
    np.testing.assert_array_equal(np.concatenate([label.numpy() for _, label in batches]), memory.label)
    for f in fs.ALL_FEATURES:  # every column in its own place: none swapped when split out of a block
        streamed = np.concatenate([features[f.name].numpy() for features, _ in batches])
        expected = memory.features[f.name]
        if f.dtype == "string":
            streamed, expected = streamed.astype(str), expected.astype(str)
        np.testing.assert_array_equal(streamed, expected, err_msg=f.name)


def test_numpy_batches_match_the_dataset(parts: Path) -> None:
    samples = ParquetSamples(parts)
    memory = load_samples(parts)
    features, label = next(samples.batches(N_ROWS))
    for f in fs.ALL_FEATURES:
        assert features[f.name].dtype == memory.features[f.name].dtype, f.name
        np.testing.assert_array_equal(features[f.name], memory.features[f.name], err_msg=f.name)
    shuffled = [i for batch, _ in samples.epoch(64, seed=(3, 0), shuffle_buffer=250) for i in batch["userId"]]
    assert sorted(shuffled) == list(range(1, N_ROWS + 1)) and shuffled != sorted(shuffled)


def test_streamed_vocab_equals_in_memory_vocab(parts: Path) -> None:
    memory = FeatureVocab.fit(load_samples(parts).features)
    streamed = FeatureVocab.from_batches(ParquetSamples(parts).vocab_batches(chunk_rows=64))
    np.testing.assert_array_equal(streamed.movie_ids, memory.movie_ids)
    np.testing.assert_array_equal(streamed.user_ids, memory.user_ids)
    assert streamed.genres == memory.genres and "" not in streamed.genres and streamed.genres
    assert fs.MISSING_ID not in streamed.movie_ids  # the null movieId became padding, not a vocabulary entry
    assert streamed.numeric_mean.keys() == memory.numeric_mean.keys()
    for name in memory.numeric_mean:
        assert streamed.numeric_mean[name] == pytest.approx(memory.numeric_mean[name], rel=1e-9, abs=1e-12)
        assert streamed.numeric_var[name] == pytest.approx(memory.numeric_var[name], rel=1e-9)


def test_baseline_columns_load_without_the_string_features(parts: Path) -> None:
    columns = load_samples(parts, BASELINE_FEATURES)
    assert set(columns.features) == {"movieAvgRating", "movieRatingCount"}
    assert len(columns) == N_ROWS and columns.features["movieAvgRating"].dtype == np.float32
    assert columns.features["movieAvgRating"][500] == 0.0  # null -> default


def test_missing_columns_are_reported(tmp_path: Path) -> None:
    pq.write_table(pa.table({"userId": [1], "label": [1]}), tmp_path / "part-0.parquet")
    with pytest.raises(ValueError, match="movieId"):
        ParquetSamples(tmp_path)

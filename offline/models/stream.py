"""Stream Spark's Parquet samples into training batches with bounded memory.

A split is a list of *pieces*: (part file, row group). Nothing reads a whole split:

* **training** (:meth:`ParquetSamples.epoch`): pieces in a per-epoch random order are read in
  chunks and collected into a *window* of at least ``shuffle_buffer`` rows, which is permuted and
  cut into batches (a window's last few rows start the next batch, so only the epoch's last batch
  is short). Memory is about two windows, whatever the split's size.
* **evaluation** (:meth:`ParquetSamples.batches`): file order, never shuffled, so labels and
  predictions line up with :func:`offline.models.dataset.load_samples`.
* **vocabularies** (:meth:`ParquetSamples.vocab_batches`): one pass with pyarrow ``unique``.

Why windows instead of ``tf.data`` ``unbatch().shuffle().batch()``: Spark writes samples
clustered (each part file sorted by movie after the window functions), so rows have to be mixed
across a wide span, and per-element ``tf.data`` ops on 25 columns cost microseconds per row
while a numpy permutation of a window costs nanoseconds.

Inside a pass, rows travel as *blocks*: one 2-D array per spec dtype (all int64 features side by
side, all float32 ones, and the string features as int32 codes into the pass's few distinct
strings). Permuting a block is three row gathers instead of 25 column ones, and ``tf.data`` gets
four arrays per batch: ``from_generator`` costs ~0.1 ms per array per batch, and converting
Python strings per row cost more than training. ``to_dataset`` splits the columns out again and
decodes the strings with a gather, in TensorFlow.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from offline.models.dataset import feature_array, label_column, part_files
from offline.params import PipelineParams
from sparrow.feature_spec import (
    ALL_FEATURES,
    LABEL,
    MOVIE_GENRES,
    MOVIE_ID,
    USER_GENRES,
    USER_ID,
    USER_RECENT_MOVIES,
    Feature,
)

DEFAULT_SHUFFLE_BUFFER = PipelineParams().shuffle_buffer  # rows per window: ~0.1 GB as blocks
READ_CHUNK = 65_536  # rows decoded per read (a row group is read in chunks of this many rows)
# columns whose vocabulary is collected (deduplicated per chunk with pyarrow before numpy sees them)
VOCAB_COLUMNS = {f.name for f in (USER_ID, MOVIE_ID, *USER_RECENT_MOVIES, *MOVIE_GENRES, *USER_GENRES)}
STRING = "string"
CODE_DTYPE = np.int32  # what a string column is while in a block

Batch = tuple[dict[str, np.ndarray], np.ndarray]  # ({feature: column}, float32 labels)
Block = tuple[dict[str, np.ndarray], np.ndarray]  # ({spec dtype: (rows, features) array}, labels)


@dataclass(frozen=True)
class Piece:
    """One row group of one part file: the smallest unit Parquet can read on its own."""

    path: str
    row_group: int
    num_rows: int


def _pieces(path: Path) -> list[Piece]:
    pieces = []
    for file in part_files(path):
        meta = pq.ParquetFile(file).metadata  # footer only
        pieces += [Piece(file, i, meta.row_group(i).num_rows) for i in range(meta.num_row_groups)]
    return [p for p in pieces if p.num_rows > 0]


def _concat(parts: Sequence[Block]) -> Block:
    if len(parts) == 1:
        return parts[0]
    groups = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
    return groups, np.concatenate([p[1] for p in parts])


def _rows(block: Block, index: slice) -> Block:
    return {k: v[index] for k, v in block[0].items()}, block[1][index]


def _permuted(block: Block, rng: np.random.Generator) -> Block:
    order = rng.permutation(len(block[1]))
    # np.take(axis=0) gathers whole rows 3-7x faster than fancy indexing does on a 2-D array
    return {k: np.take(v, order, axis=0) for k, v in block[0].items()}, np.take(block[1], order)


def _rebatch(parts: Iterable[Block], batch_size: int) -> Iterator[Block]:
    """Cut a stream of row chunks into ``batch_size``-row batches; only the last one is short.

    The batch count is then exactly ``ceil(rows / batch_size)`` whatever the row groups and read
    chunks look like, which is what ``assert_cardinality`` (and Keras' progress) rely on.
    """
    pending: list[Block] = []
    held = 0
    for part in parts:
        pending.append(part)
        held += len(part[1])
        if held < batch_size:
            continue
        merged = _concat(pending)
        full = held // batch_size * batch_size
        for start in range(0, full, batch_size):
            yield _rows(merged, slice(start, start + batch_size))
        pending = [_rows(merged, slice(full, None))] if full < held else []
        held -= full
    if held:
        yield _concat(pending)


def _vocab_column(data: pa.RecordBatch, feature: Feature) -> np.ndarray:
    if feature.name not in VOCAB_COLUMNS:
        return feature_array(data, feature)
    # deduplicate in Arrow first: np.unique of 256k-row object arrays of genre strings is slow
    return feature_array(pa.table({feature.name: pc.unique(data.column(feature.name))}), feature)


class _Pass:
    """The state of one pass: its string table (codes are only valid within the pass) and block layout.

    One instance per pass, so concurrent passes (a training and a validation iterator) never share
    a table. The table holds each distinct string once (~20 genres).
    """

    def __init__(self, features: Sequence[Feature]) -> None:
        if any(f.shape for f in features):
            raise NotImplementedError("blocks hold scalar features only")
        self.groups: dict[str, list[Feature]] = {}
        for f in features:
            self.groups.setdefault(f.dtype, []).append(f)
        self.index: dict[str, int] = {}
        self.values = np.empty(0, object)

    def _codes(self, data: pa.RecordBatch, feature: Feature) -> np.ndarray:
        column = pc.fill_null(data.column(feature.name), feature.default).cast(pa.string())
        encoded = pc.dictionary_encode(column)
        local = encoded.dictionary.to_pylist()  # this chunk's distinct values: a handful
        new = [v for v in local if v not in self.index]
        if new:
            self.index.update({v: len(self.index) + i for i, v in enumerate(new)})
            self.values = np.array(list(self.index), dtype=object)  # dicts keep insertion order
        remap = np.fromiter((self.index[v] for v in local), CODE_DTYPE, len(local))
        return remap[encoded.indices.to_numpy(zero_copy_only=False)]

    def block(self, data: pa.RecordBatch) -> Block:
        """A record batch as a block (nulls filled with the feature defaults, spec dtypes)."""
        groups = {
            dtype: np.column_stack(
                [self._codes(data, f) if dtype == STRING else feature_array(data, f) for f in features]
            )
            for dtype, features in self.groups.items()
        }
        return groups, label_column(data)

    def decoded(self, blocks: Iterable[Block]) -> Iterator[Batch]:
        """Blocks as ``({feature: column}, label)`` with spec dtypes (strings as object arrays of str)."""
        for groups, label in blocks:
            features = {}
            for dtype, members in self.groups.items():
                matrix = self.values[groups[dtype]] if dtype == STRING else groups[dtype]
                features.update({f.name: np.ascontiguousarray(matrix[:, j]) for j, f in enumerate(members)})
            yield features, label


class ParquetSamples:
    """A train or test split (Spark output directory) read batch by batch; never materialised."""

    def __init__(self, path: Path, features: Sequence[Feature] = ALL_FEATURES) -> None:
        self.path = Path(path)
        self.features = tuple(features)
        self.pieces = _pieces(self.path)
        if not self.pieces:
            raise ValueError(f"no samples in {self.path}")
        names = pq.ParquetFile(self.pieces[0].path).schema_arrow.names
        missing = [c for c in (*(f.name for f in self.features), LABEL) if c not in names]
        if missing:
            raise ValueError(f"sample Parquet has no columns {missing} (see feature_spec.SAMPLE_COLUMNS)")
        self.num_rows = sum(p.num_rows for p in self.pieces)

    def __len__(self) -> int:
        return self.num_rows

    def _read(self, piece: Piece, chunk_rows: int, columns: Sequence[str] | None = None) -> Iterator[Any]:
        columns = list(columns) if columns is not None else [*(f.name for f in self.features), LABEL]
        # a fresh reader per piece: the footer is cached by the OS and nothing stays open between pieces
        reader = pq.ParquetFile(piece.path)
        yield from reader.iter_batches(batch_size=chunk_rows, row_groups=[piece.row_group], columns=columns)

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """Every row once, in file order (evaluation): ``ceil(len / batch_size)`` batches, the last short."""
        state, blocks = self._pass(batch_size, None)
        return state.decoded(blocks)

    def epoch(
        self, batch_size: int, seed: int | Sequence[int], shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER
    ) -> Iterator[Batch]:
        """Every row once, shuffled by ``seed`` (an int or ``(seed, epoch)``): ``ceil(len / batch_size)``
        batches, only the last one short.

        Pieces come in a random order; rows are permuted within windows of >= ``shuffle_buffer`` rows
        (a whole split when it is smaller than that, i.e. a full shuffle on small data).
        """
        state, blocks = self._pass(batch_size, seed, shuffle_buffer)
        return state.decoded(blocks)

    def _pass(
        self, batch_size: int, seed: int | Sequence[int] | None, shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER
    ) -> tuple[_Pass, Iterator[Block]]:
        """One pass as batch-sized blocks: file order when ``seed`` is None, else shuffled windows."""
        state = _Pass(self.features)
        if seed is None:
            chunks = (state.block(data) for piece in self.pieces for data in self._read(piece, batch_size))
        else:
            chunks = self._windows(state, np.random.default_rng(seed), shuffle_buffer)
        return state, _rebatch(chunks, batch_size)

    def _windows(self, state: _Pass, rng: np.random.Generator, shuffle_buffer: int) -> Iterator[Block]:
        window: list[Block] = []
        held = 0
        chunk_rows = min(READ_CHUNK, max(shuffle_buffer, 1))
        for index in rng.permutation(len(self.pieces)):
            for data in self._read(self.pieces[index], chunk_rows):
                window.append(state.block(data))
                held += data.num_rows
                if held >= shuffle_buffer:
                    yield _permuted(_concat(window), rng)
                    window, held = [], 0
        if window:
            yield _permuted(_concat(window), rng)

    def vocab_batches(self, chunk_rows: int = DEFAULT_SHUFFLE_BUFFER) -> Iterator[dict[str, np.ndarray]]:
        """Columns for :meth:`FeatureVocab.from_batches`, one dict per chunk of the split.

        Id and genre columns arrive deduplicated (pyarrow ``unique``; a null becomes the feature
        default), numeric columns whole, so a pass holds one chunk plus the vocabularies.
        """
        for piece in self.pieces:
            for record_batch in self._read(piece, chunk_rows, [f.name for f in self.features]):
                yield {f.name: _vocab_column(record_batch, f) for f in self.features}

    # --- tf.data -----------------------------------------------------------------------------------
    def to_dataset(
        self,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
    ) -> Any:
        """``tf.data.Dataset`` of ``(features dict, label)`` batches: spec dtypes, ``(None,)`` shapes.

        ``shuffle``: :meth:`epoch` with seed ``(seed, n)`` on the n-th iteration (Keras iterates once per
        epoch, so every epoch has its own order); otherwise :meth:`batches` in file order.
        """
        import tensorflow as tf

        groups = _Pass(self.features).groups
        tf_types = {dtype: tf.int32 if dtype == STRING else tf.dtypes.as_dtype(dtype) for dtype in groups}
        signature = (
            {dtype: tf.TensorSpec((None, len(group)), tf_types[dtype]) for dtype, group in groups.items()},
            tf.TensorSpec((None,), tf.string),  # the pass's string table, as of this batch
            tf.TensorSpec((None,), tf.float32),
        )
        # counted when a pass's generator starts, i.e. at an iterator's first element: Keras makes one
        # iterator per epoch (plus one at each epoch's end that it never reads, so it never counts)
        epochs = itertools.count()

        def generate() -> Iterator[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]:
            state, blocks = self._pass(batch_size, (seed, next(epochs)) if shuffle else None, shuffle_buffer)
            for block, label in blocks:
                yield block, state.values, label

        def split(block: dict[str, Any], values: Any, label: Any) -> tuple[dict[str, Any], Any]:
            columns = {}
            for dtype, members in groups.items():
                matrix = tf.gather(values, block[dtype]) if dtype == STRING else block[dtype]
                columns.update({f.name: matrix[:, j] for j, f in enumerate(members)})
            return {f.name: columns[f.name] for f in self.features}, label

        data = tf.data.Dataset.from_generator(generate, output_signature=signature).map(split)
        # the exact batch count lets Keras size each epoch (no "ran out of data" warning after the first)
        # and fails loudly if a pass ever loses or repeats rows
        data = data.apply(tf.data.experimental.assert_cardinality(-(-self.num_rows // batch_size)))
        return data.prefetch(2)

"""The first part files of a pipeline's split as samples + vocabularies, for the model-step timing scripts."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from offline.models.dataset import part_files
from offline.models.layers import FeatureVocab
from offline.models.stream import ParquetSamples


@contextmanager
def first_parts(split_dir: Path, parts: int) -> Iterator[tuple[ParquetSamples, FeatureVocab]]:
    """Copies of the first ``parts`` Parquet files of ``split_dir`` (e.g. ``<work>/split/train``), read as
    :class:`ParquetSamples`, with vocabularies from one pass over them; the copies go on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        for file in part_files(split_dir)[:parts]:
            shutil.copy(file, tmp)
        samples = ParquetSamples(Path(tmp))
        yield samples, FeatureVocab.from_batches(samples.vocab_batches())

"""Readers for the bundle's embedding and similar-list Parquet tables (as the offline side writes them).

The contract names the tables' content (``id, vector`` and ``movieId, similar ids + scores``);
the readers find the list columns by type so a renamed scores column does not break serving.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def read_embedding_table(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(ids int64[n], matrix float32[n, d])`` from an ``id, vector`` Parquet file."""
    table = pq.read_table(path)
    id_col = _first(table, lambda n, t: pa.types.is_integer(t), prefer=("id", "movieId", "userId"))
    vec_col = _first(table, lambda n, t: pa.types.is_list(t) or pa.types.is_fixed_size_list(t), prefer=("vector",))
    ids = table.column(id_col).to_numpy().astype(np.int64)
    vectors = table.column(vec_col).to_pylist()
    matrix = np.asarray(vectors, dtype=np.float32) if vectors else np.zeros((0, 0), np.float32)
    return ids, matrix


def read_similar_table(path: Path) -> dict[int, tuple[list[int], list[float]]]:
    """``{movieId: (similar ids, scores)}`` from a similar-list Parquet file."""
    table = pq.read_table(path)
    id_col = _first(table, lambda n, t: pa.types.is_integer(t), prefer=("movieId", "id"))
    ids_col = _first(
        table, lambda n, t: pa.types.is_list(t) and pa.types.is_integer(t.value_type), prefer=("similar", "similarIds")
    )
    scores_col = _first(
        table, lambda n, t: pa.types.is_list(t) and pa.types.is_floating(t.value_type), prefer=("scores",), required=False
    )
    frame: pd.DataFrame = table.to_pandas()
    out: dict[int, tuple[list[int], list[float]]] = {}
    for row in frame.itertuples(index=False):
        record = row._asdict()
        sims = [int(i) for i in record[ids_col]] if record[ids_col] is not None else []
        if scores_col is not None and record[scores_col] is not None:
            scores = [float(s) for s in record[scores_col]]
        else:
            scores = [1.0 - i / max(len(sims), 1) for i in range(len(sims))]
        out[int(record[id_col])] = (sims, scores)
    return out


def _first(table: pa.Table, accept, prefer: tuple[str, ...], required: bool = True) -> str | None:  # type: ignore[no-untyped-def]
    names = list(table.schema.names)
    for name in prefer:
        if name in names and accept(name, table.schema.field(name).type):
            return name
    for f in table.schema:
        if accept(f.name, f.type):
            return f.name
    if required:
        raise ValueError(f"no suitable column among {names}")
    return None

"""ANN trade-offs: FAISS flat vs HNSW vs LSH — build time, single-query p50/p99, recall@100 vs exact.

Indexes are built with the service's own builder (``online.recall.ann.build_index``), so the figures
are those of the code that serves requests (HNSW with the service's efSearch, LSH with its exact
re-scoring of oversampled candidates). Catalogues: the real item embeddings of a bundle, and synthetic
clustered catalogues of 100k (and 1M in full mode) items. Spark BRP-LSH similar lists are measured
against exact search by :mod:`bench.spark_lsh`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.report import Section, Table, save_figure
from sparrow.bundle import ITEM_EMBEDDINGS, Bundle

KINDS = ("flat", "hnsw", "lsh")
TOP_K = 100


def synthetic_catalogue(n_items: int, dim: int = 32, clusters: int = 256, seed: int = 0) -> np.ndarray:
    """Clustered vectors (taste groups), which is how learned item embeddings look; uniform noise is not."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (clusters, dim)).astype(np.float32)
    which = rng.integers(0, clusters, n_items)
    return centres[which] + 0.6 * rng.normal(0, 1, (n_items, dim)).astype(np.float32)


def user_like_queries(items: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    """Queries shaped like the service's user vectors: the mean of a few item vectors, plus noise."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(items), (n, 5))
    q = items[picks].mean(axis=1)
    return (q + 0.1 * rng.normal(0, 1, q.shape)).astype(np.float32)


def exact_top_k(matrix: np.ndarray, queries: np.ndarray, k: int, chunk: int = 256) -> np.ndarray:
    """Row indices of the exact top-``k`` by cosine, per query (numpy, batched)."""
    mat = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    out = np.empty((len(queries), min(k, len(mat))), dtype=np.int64)
    for s in range(0, len(queries), chunk):
        scores = queries[s : s + chunk] @ mat.T
        part = np.argpartition(-scores, kth=out.shape[1] - 1, axis=1)[:, : out.shape[1]]
        out[s : s + chunk] = part
    return out


def _builder() -> tuple[Any, str]:
    try:
        from online.recall.ann import build_index

        return build_index, "online.recall.ann.build_index (the service's builder)"
    except ImportError:  # pragma: no cover - only before the service exists
        return _faiss_build, "faiss directly (online.recall.ann not importable)"


class _FaissIndex:
    def __init__(self, kind: str, ids: np.ndarray, index: Any) -> None:
        self.kind, self.ids, self.index = kind, ids, index

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(query, np.float32).reshape(1, -1)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        scores, rows = self.index.search(q, k)
        keep = rows[0] >= 0
        return self.ids[rows[0][keep]], scores[0][keep]


def _faiss_build(ids: np.ndarray, matrix: np.ndarray, kind: str) -> _FaissIndex:  # pragma: no cover
    import faiss

    mat = np.ascontiguousarray(matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12),
                               dtype=np.float32)
    dim = mat.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
    else:
        index = faiss.IndexLSH(dim, 16 * dim)
    index.add(mat)
    return _FaissIndex(kind, ids, index)


def measure_catalogue(name: str, matrix: np.ndarray, queries: np.ndarray, k: int = TOP_K) -> list[list[str]]:
    """One row per index kind: catalogue, kind, items, build s, p50/p99 ms, recall@k vs exact."""
    build, _ = _builder()
    ids = np.arange(len(matrix), dtype=np.int64)
    truth = exact_top_k(matrix, queries, k)
    rows = []
    for kind in KINDS:
        t0 = time.perf_counter()
        index = build(ids, matrix, kind)
        build_s = time.perf_counter() - t0
        index.search(queries[0], k)  # warm caches
        lat, recalls = [], []
        for q, exact in zip(queries, truth, strict=True):
            t = time.perf_counter()
            found, _ = index.search(q, k)
            lat.append((time.perf_counter() - t) * 1000)
            recalls.append(len(set(found.tolist()) & set(exact.tolist())) / len(exact))
        rows.append([name, kind, f"{len(matrix):,}", f"{matrix.shape[1]}", f"{build_s:.2f}",
                     f"{np.percentile(lat, 50):.3f}", f"{np.percentile(lat, 99):.3f}", f"{np.mean(recalls):.3f}"])
        del index
    return rows


def bundle_item_embeddings(bundle: Bundle) -> Iterator[tuple[str, np.ndarray]]:
    """``(name, matrix)`` for every item embedding stored in the bundle."""
    for name in bundle.embeddings():
        if name not in ITEM_EMBEDDINGS:
            continue
        frame = pd.read_parquet(bundle.embedding_path(name))
        vec_col = "vector" if "vector" in frame.columns else frame.columns[-1]
        yield name, np.stack(frame[vec_col].to_numpy()).astype(np.float32)


def run(bundle: Bundle | None, quick: bool, img_dir: Path) -> Section:
    """The ANN section: real embeddings of ``bundle`` (if any) and synthetic catalogues."""
    _, builder_name = _builder()
    n_queries = 50 if quick else 1000
    rows: list[list[str]] = []
    if bundle is not None:
        for name, matrix in bundle_item_embeddings(bundle):
            rows += measure_catalogue(f"bundle:{name}", matrix, user_like_queries(matrix, n_queries))
    sizes = [20_000] if quick else [100_000, 1_000_000]
    for n in sizes:
        matrix = synthetic_catalogue(n)
        rows += measure_catalogue(f"synthetic {n // 1000}k", matrix, user_like_queries(matrix, n_queries))
        del matrix
    table = Table(
        ["catalogue", "index", "items", "dim", "build s", "query p50 ms", "query p99 ms", f"recall@{TOP_K}"], rows
    )
    tables = [table]
    notes = [f"Indexes built with {builder_name}; one query at a time, {n_queries} user-like queries, top-{TOP_K}."]
    if bundle is not None:
        from bench.spark_lsh import section_tables

        spark_tables, spark_notes = section_tables(bundle, quick)
        tables += spark_tables
        notes += spark_notes
    else:
        notes.append("No bundle: real item embeddings and Spark BRP-LSH figures not measured.")
    images = [_plot(rows, img_dir)]
    return Section("ANN indexes", tables=tables, notes=notes, images=[i for i in images if i])


def _plot(rows: list[list[str]], img_dir: Path) -> Path | None:
    from bench.report import plt_or_none

    plt = plt_or_none()
    if plt is None or not rows:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, marker in zip(KINDS, "osd", strict=True):
        pts = [(float(r[5]), float(r[7])) for r in rows if r[1] == kind]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=kind)
    ax.set_xscale("log")
    ax.set_xlabel("query p50 (ms, log)")
    ax.set_ylabel(f"recall@{TOP_K}")
    ax.set_title("FAISS index trade-off (every catalogue)")
    ax.legend()
    return save_figure(plt, fig, img_dir, "bench-ann")

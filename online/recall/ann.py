"""FAISS indexes over normalised item embeddings: ``flat`` (exact), ``hnsw`` and ``lsh``.

Vectors are L2-normalised so inner product is cosine (``METRIC_INNER_PRODUCT``). An index is
built once per version per embedding per kind (the catalogue caches it). Searching is
read-only, so one index serves concurrent requests; HNSW gets ``efSearch >= k`` per call
through search parameters rather than by mutating the shared index.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

# more OpenMP threads made latency erratic and builds slower on small machines (STACK-NOTES)
faiss.omp_set_num_threads(1)

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_MIN_EF = 64
LSH_BITS_PER_DIM = 16  # 32-d -> 512 bits; LSH candidates are re-scored exactly
LSH_OVERSAMPLE = 3


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Row-normalised float32 copy (zero rows stay zero)."""
    mat = np.ascontiguousarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return mat / norms


@dataclass
class AnnIndex:
    """A FAISS index over the rows of ``matrix`` (normalised); ``ids[row]`` is the movieId."""

    kind: str
    ids: np.ndarray
    matrix: np.ndarray
    index: faiss.Index

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(movieIds, cosine scores)`` for one query vector, best first."""
        n = len(self.ids)
        k = min(k, n)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        q = normalise(np.asarray(query, np.float32).reshape(1, -1))
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(k, HNSW_MIN_EF))
            scores, rows = self.index.search(q, k, params=params)
        elif self.kind == "lsh":
            # LSH ranks by Hamming distance: oversample, then re-score exactly by inner product
            _, rows = self.index.search(q, min(n, k * LSH_OVERSAMPLE))
            rows = rows[:, rows[0] >= 0]
            exact = self.matrix[rows[0]] @ q[0]
            order = np.argsort(-exact)[:k]
            return self.ids[rows[0][order]], exact[order]
        else:
            scores, rows = self.index.search(q, k)
        keep = rows[0] >= 0
        return self.ids[rows[0][keep]], scores[0][keep]


def build_index(ids: np.ndarray, matrix: np.ndarray, kind: str) -> AnnIndex:
    """Build a ``flat``/``hnsw``/``lsh`` index over ``matrix`` rows (normalised here)."""
    mat = normalise(matrix)
    dim = mat.shape[1]
    index: faiss.Index
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    elif kind == "lsh":
        index = faiss.IndexLSH(dim, max(64, LSH_BITS_PER_DIM * dim))
    else:
        raise ValueError(f"unknown ANN index kind {kind!r} (flat, hnsw, lsh)")
    if len(mat):
        index.add(mat)
    return AnnIndex(kind=kind, ids=np.asarray(ids, np.int64), matrix=mat, index=index)

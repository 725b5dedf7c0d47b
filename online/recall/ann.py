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

    def search(self, query: np.ndarray, k: int, exclude_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(movieIds, cosine scores)`` for one query vector, best first.

        ``exclude_rows`` (distinct index rows) are never returned: flat and HNSW skip them inside
        FAISS through an ``IDSelectorBitmap``, so a user who rated 2,000 movies costs a ``k``-search,
        not a ``k + 2,000`` one (an HNSW search with efSearch that large was most of the channel's time).
        """
        n = len(self.ids)
        excluded = 0 if exclude_rows is None else len(exclude_rows)
        k = min(k, n - excluded)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        q = normalise(np.asarray(query, np.float32).reshape(1, -1))
        if self.kind == "lsh":
            # LSH ranks by Hamming distance: oversample, then re-score exactly by inner product
            _, found = self.index.search(q, min(n, (k + excluded) * LSH_OVERSAMPLE))
            rows = found[0][found[0] >= 0]
            if excluded:
                rows = rows[~np.isin(rows, exclude_rows)]
            exact = self.matrix[rows] @ q[0]
            order = np.argsort(-exact)[:k]
            return self.ids[rows[order]], exact[order]
        # the bitmap and the selector must outlive the search: FAISS only holds pointers to them
        bitmap = _allowed_bitmap(n, exclude_rows) if exclude_rows is not None and excluded else None
        selector = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap)) if bitmap is not None else None
        extra = {} if selector is None else {"sel": selector}
        params: faiss.SearchParameters | None = None
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(k, HNSW_MIN_EF), **extra)
        elif selector is not None:
            params = faiss.SearchParameters(**extra)
        scores, found = self.index.search(q, k, params=params)
        keep = found[0] >= 0
        return self.ids[found[0][keep]], scores[0][keep]


def _allowed_bitmap(n: int, exclude_rows: np.ndarray) -> np.ndarray:
    """FAISS's bitmap layout (bit ``i % 8`` of byte ``i // 8``) with every row but ``exclude_rows`` set."""
    allowed = np.ones(n, dtype=bool)
    allowed[exclude_rows] = False
    return np.packbits(allowed, bitorder="little")


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

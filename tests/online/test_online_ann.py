"""FAISS indexes: each kind finds (nearly) the exact neighbours; k larger than the catalogue is fine."""

from __future__ import annotations

import numpy as np
import pytest

from online.recall.ann import build_index, normalise


@pytest.mark.parametrize(("kind", "min_recall"), [("flat", 1.0), ("hnsw", 0.9), ("lsh", 0.5)])
def test_index_recall_against_exact(kind: str, min_recall: float) -> None:
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(8, 16))
    matrix = (centers[rng.integers(0, 8, 600)] + 0.3 * rng.normal(size=(600, 16))).astype(np.float32)
    ids = np.arange(1000, 1600)
    index = build_index(ids, matrix, kind)
    hits = []
    for q in range(0, 600, 37):
        exact = ids[np.argsort(-(normalise(matrix) @ normalise(matrix[q : q + 1])[0]))[:50]]
        found, scores = index.search(matrix[q], 50)
        assert list(scores) == sorted(scores, reverse=True)
        hits.append(len(set(found) & set(exact)) / 50)
    assert np.mean(hits) >= min_recall


@pytest.mark.parametrize("kind", ["flat", "hnsw", "lsh"])
def test_k_beyond_catalogue(kind: str) -> None:
    matrix = np.eye(4, dtype=np.float32)
    found, _ = build_index(np.array([1, 2, 3, 4]), matrix, kind).search(np.array([1, 0, 0, 0], np.float32), 10)
    assert found[0] == 1 and len(found) <= 4

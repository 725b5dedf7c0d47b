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


@pytest.mark.parametrize("kind", ["flat", "hnsw", "lsh"])
def test_excluded_rows_never_come_back_and_k_unseen_do(kind: str) -> None:
    """The seen filter inside the search: ``k`` results, none excluded, the best of the rest first."""
    rng = np.random.default_rng(2)
    matrix = rng.normal(size=(400, 8)).astype(np.float32)
    ids = np.arange(5000, 5400)
    index = build_index(ids, matrix, kind)
    query = matrix[0]
    exact = np.argsort(-(normalise(matrix) @ normalise(query.reshape(1, -1))[0]))
    excluded = np.sort(exact[:150])  # the 150 nearest rows, so a search that ignored them would return them
    found, scores = index.search(query, 30, excluded)
    assert len(found) == 30 and not set(found) & set(ids[excluded])
    assert list(scores) == sorted(scores, reverse=True)
    if kind == "flat":
        assert list(found) == list(ids[exact[150:180]])


def test_excluding_nearly_everything_returns_what_is_left() -> None:
    index = build_index(np.array([1, 2, 3, 4]), np.eye(4, dtype=np.float32), "flat")
    found, _ = index.search(np.array([1, 0, 0, 0], np.float32), 10, np.array([0, 1, 2]))
    assert list(found) == [4]
    assert len(index.search(np.array([1, 0, 0, 0], np.float32), 10, np.arange(4))[0]) == 0

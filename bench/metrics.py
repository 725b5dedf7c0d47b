"""Top-N metrics over ranked lists: Recall@K, NDCG@K, HitRate@K and catalogue coverage.

Binary relevance throughout. Recall@K divides by ``min(K, |relevant|)`` (as in Liang et al., 2018,
"Variational Autoencoders for Collaborative Filtering", and the EASE paper), so a user with more
relevant items than K can still reach 1.0. Every metric is the mean over evaluated users.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


def recall_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """Hits in the first ``k`` of ``ranked`` divided by ``min(k, |relevant|)``; 0 when nothing is relevant."""
    if not relevant:
        return 0.0
    hits = sum(1 for item in ranked[:k] if item in relevant)
    return hits / min(k, len(relevant))


def ndcg_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """DCG of the first ``k`` (gain 1/log2(rank+1), rank from 1) over the ideal DCG for ``min(k, |relevant|)`` hits."""
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 2) for rank, item in enumerate(ranked[:k]) if item in relevant)
    idcg = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return dcg / idcg


def hit_rate_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """1.0 when any of the first ``k`` is relevant, else 0.0."""
    return 1.0 if any(item in relevant for item in ranked[:k]) else 0.0


def coverage(lists: Iterable[Sequence[int]], catalogue_size: int, k: int) -> float:
    """Share of the catalogue that appears in at least one top-``k`` list."""
    if catalogue_size <= 0:
        return 0.0
    shown: set[int] = set()
    for ranked in lists:
        shown.update(ranked[:k])
    return len(shown) / catalogue_size


@dataclass(frozen=True)
class TopNScores:
    """Mean metrics of one recommender over the test users."""

    recall10: float
    recall50: float
    ndcg10: float
    hit10: float
    coverage10: float
    users: int
    ndcg10_ci: tuple[float, float] = (0.0, 0.0)

    def as_row(self) -> list[str]:
        lo, hi = self.ndcg10_ci
        return [f"{self.recall10:.4f}", f"{self.recall50:.4f}", f"{self.ndcg10:.4f}", f"{lo:.3f}–{hi:.3f}",
                f"{self.hit10:.4f}", f"{self.coverage10:.4f}", str(self.users)]


TOPN_HEADERS = ["Recall@10", "Recall@50", "NDCG@10", "NDCG@10 95% CI", "HitRate@10", "Coverage@10", "users"]


def bootstrap_ci(values: Sequence[float], n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of ``values`` (users resampled with replacement)."""
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, (n_boot, arr.size))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def evaluate_topn(
    recommendations: Mapping[int, Sequence[int]], truth: Mapping[int, set[int]], catalogue_size: int
) -> TopNScores:
    """Score ``user -> ranked items`` against ``user -> relevant items``; users missing a list score 0."""
    users = [u for u, rel in truth.items() if rel]
    if not users:
        return TopNScores(0.0, 0.0, 0.0, 0.0, 0.0, 0)
    lists = [list(recommendations.get(u, ())) for u in users]
    n = len(users)
    ndcg = [ndcg_at_k(r, truth[u], 10) for u, r in zip(users, lists, strict=True)]
    return TopNScores(
        recall10=sum(recall_at_k(r, truth[u], 10) for u, r in zip(users, lists, strict=True)) / n,
        recall50=sum(recall_at_k(r, truth[u], 50) for u, r in zip(users, lists, strict=True)) / n,
        ndcg10=sum(ndcg) / n,
        hit10=sum(hit_rate_at_k(r, truth[u], 10) for u, r in zip(users, lists, strict=True)) / n,
        coverage10=coverage(lists, catalogue_size, 10),
        users=n,
        ndcg10_ci=bootstrap_ci(ndcg),
    )

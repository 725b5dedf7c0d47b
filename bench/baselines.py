"""Strong, simple top-N baselines the service is measured against (numpy/scipy only).

All take a user x item interaction matrix ``X`` (CSR, 1.0 for a positive) and score every item for a
batch of users; :func:`recommend_top_k` removes what the user already rated and keeps the top K.

* Popularity — items by number of positives.
* ItemKNN — cosine item-item similarity, top ``neighbours`` kept per item (Sarwar et al., 2001).
* ALS — implicit-feedback matrix factorisation with confidence ``1 + alpha * x`` (Hu, Koren, Volinsky,
  2008), solved exactly per row with the ``YtY + Yt(C-I)Y`` trick.
* EASE — closed-form shallow autoencoder ``B = I - P diagMat(1/diag(P))``, ``P = (XtX + lambda I)^-1``
  (Steck, 2019, "Embarrassingly Shallow Autoencoders for Sparse Data").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.sparse as sp


class Recommender(Protocol):
    name: str

    def fit(self, X: sp.csr_matrix) -> Recommender: ...

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Dense ``len(users) x n_items`` scores (higher is better)."""
        ...


def recommend_top_k(
    model: Recommender, users: np.ndarray, seen: sp.csr_matrix, k: int, batch: int = 512
) -> np.ndarray:
    """Top-``k`` item indices per user (best first), never an item in the user's ``seen`` row."""
    out = np.empty((len(users), k), dtype=np.int64)
    for start in range(0, len(users), batch):
        rows = users[start : start + batch]
        s = np.asarray(model.scores(rows), dtype=np.float64)
        seen_rows = seen[rows]
        r, c = seen_rows.nonzero()
        s[r, c] = -np.inf
        part = np.argpartition(-s, kth=min(k, s.shape[1] - 1), axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
        out[start : start + len(rows)] = np.take_along_axis(part, order, axis=1)
    return out


@dataclass
class Popularity:
    """Most-liked items first, the same list for everyone (minus what they saw)."""

    name: str = "popularity"
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fit(self, X: sp.csr_matrix) -> Popularity:
        self.counts = np.asarray(X.sum(axis=0)).ravel().astype(np.float64)
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(users), self.counts.size)).copy()


@dataclass
class ItemKNN:
    """Score = sum of cosine similarities between an item and the user's positives (top neighbours only)."""

    neighbours: int = 100
    name: str = "itemknn"
    X: sp.csr_matrix | None = None
    sim: sp.csr_matrix | None = None

    def fit(self, X: sp.csr_matrix) -> ItemKNN:
        self.X = X.tocsr().astype(np.float32)
        norms = np.sqrt(np.asarray(self.X.multiply(self.X).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        Xn = self.X @ sp.diags(1.0 / norms)
        sim = (Xn.T @ Xn).tocsr()
        sim.setdiag(0)
        sim.eliminate_zeros()
        self.sim = _keep_top_per_row(sim, self.neighbours)
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        assert self.X is not None and self.sim is not None, "fit first"
        # sim rows are an item's neighbours; score(u, j) = sum_i x_ui * sim(i, j)
        return np.asarray((self.X[users] @ self.sim).todense())


def _keep_top_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row of a CSR matrix."""
    rows, cols, vals = [], [], []
    for i in range(m.shape[0]):
        lo, hi = m.indptr[i], m.indptr[i + 1]
        if hi == lo:
            continue
        v, c = m.data[lo:hi], m.indices[lo:hi]
        if v.size > k:
            keep = np.argpartition(-v, k - 1)[:k]
            v, c = v[keep], c[keep]
        rows.append(np.full(v.size, i))
        cols.append(c)
        vals.append(v)
    if not rows:
        return sp.csr_matrix(m.shape, dtype=np.float32)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=m.shape)


@dataclass
class ImplicitALS:
    """Weighted matrix factorisation for implicit feedback (Hu et al., 2008), exact per-row solves."""

    factors: int = 64
    reg: float = 0.1
    alpha: float = 20.0
    iterations: int = 10
    seed: int = 42
    name: str = "als"
    U: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    V: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def fit(self, X: sp.csr_matrix) -> ImplicitALS:
        rng = np.random.default_rng(self.seed)
        X = X.tocsr()
        n_users, n_items = X.shape
        self.U = rng.normal(0, 0.01, (n_users, self.factors))
        self.V = rng.normal(0, 0.01, (n_items, self.factors))
        Xt = X.T.tocsr()
        for _ in range(self.iterations):
            self.U = self._solve(X, self.V)
            self.V = self._solve(Xt, self.U)
        return self

    def _solve(self, R: sp.csr_matrix, Y: np.ndarray) -> np.ndarray:
        """For every row r: (YtY + Yr^T (C_r - I) Yr + reg I)^-1 Yr^T C_r 1 over the row's non-zeros."""
        YtY = Y.T @ Y
        eye = self.reg * np.eye(self.factors)
        out = np.zeros((R.shape[0], self.factors))
        for r in range(R.shape[0]):
            lo, hi = R.indptr[r], R.indptr[r + 1]
            if hi == lo:
                continue
            idx = R.indices[lo:hi]
            conf = 1.0 + self.alpha * R.data[lo:hi]
            Yr = Y[idx]
            A = YtY + (Yr.T * (conf - 1.0)) @ Yr + eye
            out[r] = np.linalg.solve(A, Yr.T @ conf)
        return out

    def scores(self, users: np.ndarray) -> np.ndarray:
        return self.U[users] @ self.V.T


@dataclass
class EASE:
    """Closed-form item-item linear model with a zero diagonal (Steck, 2019)."""

    l2: float = 200.0
    name: str = "ease"
    X: sp.csr_matrix | None = None
    B: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def fit(self, X: sp.csr_matrix) -> EASE:
        self.X = X.tocsr().astype(np.float32)
        G = np.asarray((self.X.T @ self.X).todense(), dtype=np.float64)
        G[np.diag_indices_from(G)] += self.l2
        P = np.linalg.inv(G)
        B = P / (-np.diag(P))
        B[np.diag_indices_from(B)] = 0.0
        self.B = B.astype(np.float32)
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        assert self.X is not None, "fit first"
        return np.asarray(self.X[users] @ self.B)


class RandomScores:
    """Uniform random scores: the floor a baseline must beat."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.n_items = 0

    def fit(self, X: sp.csr_matrix) -> RandomScores:
        self.n_items = X.shape[1]
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        return self.rng.random((len(users), self.n_items))

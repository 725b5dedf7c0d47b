"""Exploration: Thompson sampling gives new or under-exposed movies a share of the recommendation slots.

Each movie's click-through rate has a Beta posterior, ``Beta(a + clicks, b + exposures - clicks)``
(Chapelle & Li, "An Empirical Evaluation of Thompson Sampling", NIPS 2011). Per request we draw one sample
per candidate and the highest draws take ~``share`` of the slots. A never-shown movie has the flat prior,
whose draws are often high, so it gets shown; a movie shown often without clicks draws low and fades.
The policy keeps its own per-movie counters (:class:`MovieStats`), in Redis when there is one.
"""

from __future__ import annotations

import math
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

import redis

from sparrow.redis_keys import RedisKeys

from .counters import CountersUnavailable

Prior = tuple[float, float]
FLAT_PRIOR: Prior = (1.0, 1.0)


class MovieStats(ABC):
    """Per-movie exposures and clicks seen by the exploration policy."""

    @abstractmethod
    def counts(self, movie_ids: Sequence[int]) -> list[tuple[int, int]]:
        """``[(exposures, clicks)]`` for each movie (zeros for a movie never shown)."""

    @abstractmethod
    def add_exposures(self, movie_ids: Iterable[int]) -> None:
        """Count one exposure for each movie of a list that was served."""

    @abstractmethod
    def add_click(self, movie_id: int) -> None:
        """Count one click (or rating) on a movie."""


class InMemoryMovieStats(MovieStats):
    """Process-local counts (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exposures: dict[int, int] = {}
        self._clicks: dict[int, int] = {}

    def counts(self, movie_ids: Sequence[int]) -> list[tuple[int, int]]:
        with self._lock:
            return [(self._exposures.get(int(m), 0), self._clicks.get(int(m), 0)) for m in movie_ids]

    def add_exposures(self, movie_ids: Iterable[int]) -> None:
        with self._lock:
            for m in movie_ids:
                self._exposures[int(m)] = self._exposures.get(int(m), 0) + 1

    def add_click(self, movie_id: int) -> None:
        with self._lock:
            self._clicks[int(movie_id)] = self._clicks.get(int(movie_id), 0) + 1


class RedisMovieStats(MovieStats):
    """Counts in two Redis hashes (``explore:exposures``, ``explore:clicks``), shared by replicas."""

    def __init__(self, client: redis.Redis, keys: RedisKeys) -> None:
        self._r = client
        self._exposures_key = keys.explore("exposures")
        self._clicks_key = keys.explore("clicks")

    def counts(self, movie_ids: Sequence[int]) -> list[tuple[int, int]]:
        if not movie_ids:
            return []
        fields = [str(int(m)) for m in movie_ids]
        try:
            pipe = self._r.pipeline(transaction=False)
            pipe.hmget(self._exposures_key, fields)
            pipe.hmget(self._clicks_key, fields)
            exposures, clicks = pipe.execute()
        except redis.RedisError as exc:
            raise CountersUnavailable(f"exploration counters unavailable: {exc}") from exc
        return [(int(e or 0), int(c or 0)) for e, c in zip(exposures, clicks, strict=True)]

    def add_exposures(self, movie_ids: Iterable[int]) -> None:
        ids = [str(int(m)) for m in movie_ids]
        if not ids:
            return
        try:
            pipe = self._r.pipeline(transaction=False)
            for field in ids:
                pipe.hincrby(self._exposures_key, field, 1)
            pipe.execute()
        except redis.RedisError as exc:
            raise CountersUnavailable(f"exploration counters unavailable: {exc}") from exc

    def add_click(self, movie_id: int) -> None:
        try:
            self._r.hincrby(self._clicks_key, str(int(movie_id)), 1)
        except redis.RedisError as exc:
            raise CountersUnavailable(f"exploration counters unavailable: {exc}") from exc


def thompson_draws(
    counts: Sequence[tuple[int, int]], rng: random.Random, prior: Prior = FLAT_PRIOR
) -> list[float]:
    """One draw from each movie's Beta posterior over its click-through rate."""
    a, b = prior
    return [rng.betavariate(a + min(c, e), b + max(e - c, 0)) for e, c in counts]


def slot_count(length: int, share: float, rng: random.Random) -> int:
    """How many of ``length`` slots explore: ``share * length`` on average (the fraction drawn at random)."""
    expected = min(max(share, 0.0), 1.0) * length
    whole = math.floor(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


def explore(
    ranked: list[int],
    pool: list[int],
    share: float,
    stats: MovieStats,
    rng: random.Random,
    *,
    max_exposures: int | None = None,
    prior: Prior = FLAT_PRIOR,
) -> list[int]:
    """Return ``ranked`` with ~``share`` of its slots given to Thompson-sampled movies from ``pool``.

    ``pool`` holds the movies eligible for exploration (e.g. new or rarely shown candidates); movies
    already in ``ranked`` are skipped, and with ``max_exposures`` so are movies shown more often than that.
    The explored movies replace the lowest-ranked ones and are placed at random positions below the top
    slot (the best-ranked movie keeps the first place). The length never changes; ``share <= 0`` returns
    ``ranked`` unchanged. Which items were explored: those in the result but not in ``ranked``.
    """
    if share <= 0.0 or not ranked or not pool:
        return list(ranked)
    shown = set(ranked)
    candidates = [m for m in dict.fromkeys(pool) if m not in shown]
    if not candidates:
        return list(ranked)
    n = min(slot_count(len(ranked), share, rng), len(candidates))
    if n == 0:
        return list(ranked)
    counts = stats.counts(candidates)
    if max_exposures is not None:
        kept = [(m, c) for m, c in zip(candidates, counts, strict=True) if c[0] <= max_exposures]
        if not kept:
            return list(ranked)
        candidates, counts = [m for m, _ in kept], [c for _, c in kept]
        n = min(n, len(candidates))
    draws = thompson_draws(counts, rng, prior)
    order = sorted(range(len(candidates)), key=lambda i: draws[i], reverse=True)
    explored = [candidates[i] for i in order[:n]]
    length = len(ranked)
    slots = range(1, length) if n < length else range(length)
    positions = set(rng.sample(slots, n))
    kept_iter = iter(ranked[: length - n])
    explored_iter = iter(explored)
    return [next(explored_iter) if pos in positions else next(kept_iter) for pos in range(length)]

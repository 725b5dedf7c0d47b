"""Experiment counters: exposures/clicks per variant, each user's latest exposure map, the shared config.

Two implementations of one small interface: :class:`RedisCounters` (shared by every replica, keys from
:class:`sparrow.redis_keys.RedisKeys`) and :class:`InMemoryCounters` (one process; used with the
FileStore). Redis failures surface as :class:`CountersUnavailable` (an HTTP 503), never as a hang: the
Redis client is expected to carry socket timeouts (``settings.redis_timeout_s``).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import redis

from online.errors import Unavailable
from sparrow.redis_keys import RedisKeys

# a click more than a day after the list was shown is not credited to it
EXPOSURE_TTL_S = 24 * 3600
# the in-memory exposure maps are bounded (least recently shown users are forgotten first)
MAX_USERS_IN_MEMORY = 100_000

CounterKey = tuple[str, str, str]  # (experiment, variant, metric)


class CountersUnavailable(Unavailable):
    """The counter store (Redis) did not answer; writes were not recorded."""

    code = "counters_unavailable"


def tally_field(team: str) -> str:
    """Field of an exposure map holding the clicks credited to ``team`` in that impression."""
    return f"#{team}"


class Counters(ABC):
    """What the registry needs from a counter store."""

    @abstractmethod
    def incr(self, deltas: Iterable[tuple[str, str, str, int]]) -> None:
        """Add ``delta`` to each ``(experiment, variant, metric)`` counter, in one round trip."""

    @abstractmethod
    def get(self, keys: Sequence[CounterKey]) -> list[int]:
        """Current values of the counters (0 for a counter never written)."""

    @abstractmethod
    def remember_exposed(
        self, experiment: str, user_id: int, owners: Mapping[int, str], replace: bool = True
    ) -> None:
        """Record ``{movieId: variant or team}`` of the list just shown in the user's exposure map.

        ``replace=True`` starts a new impression (interleaving: clicks are tallied per impression);
        ``replace=False`` adds to the map (A/B: a click on any movie shown in the last day counts).
        The map expires ``ttl_s`` after the last list shown.
        """

    @abstractmethod
    def take_exposed(self, experiment: str, user_id: int, movie_id: int) -> str | None:
        """Remove and return the owner of ``movie_id`` in the user's exposure map (None if not shown).

        Removing it means a second click on the same shown item is not credited twice.
        """

    @abstractmethod
    def tally_click(self, experiment: str, user_id: int, team: str, other: str) -> tuple[int, int]:
        """Credit one click to ``team`` in the user's current impression; return ``(team's, other's)``."""

    @abstractmethod
    def load_config(self) -> str | None:
        """The experiment config (JSON) shared by all replicas, or None when none was stored."""

    @abstractmethod
    def save_config(self, text: str) -> None:
        """Store the experiment config for every replica."""


class InMemoryCounters(Counters):
    """Counters of one process (thread-safe); lost on restart."""

    def __init__(self, ttl_s: float = EXPOSURE_TTL_S, max_users: int = MAX_USERS_IN_MEMORY) -> None:
        self._lock = threading.Lock()
        self._counts: dict[CounterKey, int] = {}
        self._exposed: OrderedDict[tuple[str, int], tuple[float, dict[str, str]]] = OrderedDict()
        self._config: str | None = None
        self._ttl_s = ttl_s
        self._max_users = max_users

    def incr(self, deltas: Iterable[tuple[str, str, str, int]]) -> None:
        with self._lock:
            for experiment, variant, metric, delta in deltas:
                key = (experiment, variant, metric)
                self._counts[key] = self._counts.get(key, 0) + delta

    def get(self, keys: Sequence[CounterKey]) -> list[int]:
        with self._lock:
            return [self._counts.get(tuple(k), 0) for k in keys]  # type: ignore[arg-type]

    def remember_exposed(
        self, experiment: str, user_id: int, owners: Mapping[int, str], replace: bool = True
    ) -> None:
        with self._lock:
            key = (experiment, int(user_id))
            previous = self._live_map(experiment, user_id)
            self._exposed.pop(key, None)
            merged = {} if replace or previous is None else previous
            merged.update({str(int(m)): o for m, o in owners.items()})
            if merged:
                self._exposed[key] = (time.monotonic() + self._ttl_s, merged)
            while len(self._exposed) > self._max_users:
                self._exposed.popitem(last=False)

    def _live_map(self, experiment: str, user_id: int) -> dict[str, str] | None:
        entry = self._exposed.get((experiment, int(user_id)))
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._exposed[(experiment, int(user_id))]
            return None
        return entry[1]

    def take_exposed(self, experiment: str, user_id: int, movie_id: int) -> str | None:
        with self._lock:
            owners = self._live_map(experiment, user_id)
            return None if owners is None else owners.pop(str(int(movie_id)), None)

    def tally_click(self, experiment: str, user_id: int, team: str, other: str) -> tuple[int, int]:
        with self._lock:
            owners = self._live_map(experiment, user_id)
            if owners is None:
                owners = {}
                self._exposed[(experiment, int(user_id))] = (time.monotonic() + self._ttl_s, owners)
            mine = int(owners.get(tally_field(team), "0")) + 1
            owners[tally_field(team)] = str(mine)
            return mine, int(owners.get(tally_field(other), "0"))

    def load_config(self) -> str | None:
        return self._config

    def save_config(self, text: str) -> None:
        self._config = text


class RedisCounters(Counters):
    """Counters in Redis under the key schema, shared by all replicas."""

    def __init__(self, client: redis.Redis, keys: RedisKeys, ttl_s: int = EXPOSURE_TTL_S) -> None:
        self._r = client
        self._keys = keys
        self._ttl_s = int(ttl_s)

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            raise CountersUnavailable(f"experiment counters unavailable ({what}): {exc}") from exc

    def incr(self, deltas: Iterable[tuple[str, str, str, int]]) -> None:
        deltas = [d for d in deltas if d[3] != 0]
        if not deltas:
            return
        with self._guard("incr"):
            pipe = self._r.pipeline(transaction=False)
            for experiment, variant, metric, delta in deltas:
                pipe.incrby(self._keys.ab(experiment, variant, metric), delta)
            pipe.execute()

    def get(self, keys: Sequence[CounterKey]) -> list[int]:
        if not keys:
            return []
        with self._guard("read"):
            values = self._r.mget([self._keys.ab(*k) for k in keys])
        return [int(v) if v is not None else 0 for v in values]

    def remember_exposed(
        self, experiment: str, user_id: int, owners: Mapping[int, str], replace: bool = True
    ) -> None:
        key = self._keys.ab_exposed(experiment, user_id)
        with self._guard("exposure map"):
            pipe = self._r.pipeline(transaction=True)
            if replace:
                pipe.delete(key)
            if owners:
                pipe.hset(key, mapping={str(int(m)): o for m, o in owners.items()})
                pipe.expire(key, self._ttl_s)
            pipe.execute()

    def take_exposed(self, experiment: str, user_id: int, movie_id: int) -> str | None:
        key = self._keys.ab_exposed(experiment, user_id)
        field = str(int(movie_id))
        with self._guard("exposure map"):
            pipe = self._r.pipeline(transaction=True)
            pipe.hget(key, field)
            pipe.hdel(key, field)
            owner, _ = pipe.execute()
        return _text(owner)

    def tally_click(self, experiment: str, user_id: int, team: str, other: str) -> tuple[int, int]:
        key = self._keys.ab_exposed(experiment, user_id)
        with self._guard("exposure map"):
            pipe = self._r.pipeline(transaction=True)
            pipe.hincrby(key, tally_field(team), 1)
            pipe.hget(key, tally_field(other))
            pipe.expire(key, self._ttl_s)
            mine, theirs, _ = pipe.execute()
        return int(mine), int(_text(theirs) or 0)

    def load_config(self) -> str | None:
        with self._guard("config"):
            return _text(self._r.get(self._keys.experiments_config()))

    def save_config(self, text: str) -> None:
        with self._guard("config"):
            self._r.set(self._keys.experiments_config(), text)


def _text(value: bytes | str | None) -> str | None:
    """Redis replies are bytes or str depending on the client's ``decode_responses``."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)

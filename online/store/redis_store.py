"""RedisStore: the production store over the key schema of ``sparrow.redis_keys`` (published offline).

Catalogue data is read once per version (movies blob, embedding blobs, similar lists in pipelined
MGETs); per request, one pipeline reads the user's hash, user embeddings, real-time history and
real-time embeddings. A user's versioned part (hash + embeddings) never changes once published, so
an in-process LRU keeps it decoded and later requests read only the nearline keys. Every socket
operation has a timeout, so a dead Redis raises ``StoreUnavailable`` quickly instead of hanging, and
redis-py reconnects by itself when it is back.
SavedModels and the report are still read from the bundle files under ``settings.artifacts``.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import redis
from cachetools import LRUCache
from redis.backoff import NoBackoff
from redis.retry import Retry

from online.errors import StoreUnavailable
from online.store.base import CatalogData, Store, UserState
from sparrow.bundle import BundleError, is_user_embedding
from sparrow.feature_spec import USER_FEATURES, USER_TABLE_EXTRA_COLUMNS
from sparrow.redis_keys import (
    EVENTS_STREAM_MAXLEN,
    RT_HISTORY_MAX,
    RedisKeys,
    decode_matrix,
    decode_record,
    decode_similar,
    decode_vector,
    encode_vector,
)

log = logging.getLogger(__name__)

_PY_TYPES = {"int64": int, "float32": float, "string": str}
USER_SCHEMA: dict[str, type] = {f.name: _PY_TYPES[f.dtype] for f in USER_FEATURES}
USER_SCHEMA.update({"highestRating": float, "lowestRating": float, "recentPositives": list, "recentRatings": list,
                    "ratedMovies": list})
assert set(USER_TABLE_EXTRA_COLUMNS) <= set(USER_SCHEMA)
_SIM_CHUNK = 2000
# (version, userId, user embedding names) -> (decoded snapshot or None, user embedding vectors)
_OfflineKey = tuple[str, int, tuple[str, ...]]
_OfflinePart = tuple[dict[str, Any] | None, dict[str, np.ndarray]]


class RedisStore(Store):
    """Store over Redis; ``artifacts`` is where the bundle files (models, report) of each version live."""

    kind = "redis"

    def __init__(
        self, url: str, artifacts: Path, prefix: str = "sparrow:", timeout_s: float = 0.5, user_cache_size: int = 0
    ) -> None:
        self.url = url
        self.artifacts = Path(artifacts)
        self.keys = RedisKeys(prefix)
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            # one quick retry at most: a dead server must cost milliseconds, not seconds
            retry=Retry(NoBackoff(), 1),
            health_check_interval=15,
        )
        # request threads share the cache; cachetools' LRUCache is not thread-safe by itself
        self._offline_cache: LRUCache[_OfflineKey, _OfflinePart] | None = (
            LRUCache(maxsize=user_cache_size) if user_cache_size > 0 else None
        )
        self._cache_lock = threading.Lock()
        self.cache_hits = 0
        self.cache_misses = 0

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise StoreUnavailable(f"redis unavailable ({what}): {exc}") from exc

    def current_version(self) -> str | None:
        with self._guard("current"):
            raw = self.client.get(self.keys.current())
        return raw.decode() if raw else None

    def load_catalog(self, version: str) -> CatalogData:
        with self._guard("load catalogue"):
            raw_manifest = self.client.get(self.keys.manifest(version))
            if raw_manifest is None:
                raise BundleError(f"version {version} is not completely published in redis (no manifest)")
            manifest = json.loads(raw_manifest)
            blob = self.client.get(self.keys.movies_blob(version))
            if blob is None:
                raise BundleError(f"version {version}: movies blob missing in redis")
            movies = pd.read_parquet(io.BytesIO(blob))
            item_embeddings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            for name in sorted(manifest.get("embeddings", {})):
                if is_user_embedding(name):
                    continue
                raw = self.client.get(self.keys.emb(version, name))
                if raw is not None:
                    item_embeddings[name] = decode_matrix(raw)
            movie_ids = [int(m) for m in movies["movieId"]]
            similar = {name: self._load_similar(version, name, movie_ids) for name in sorted(manifest.get("similar", {}))}
        bundle_dir = self.artifacts / version
        if not bundle_dir.is_dir():
            log.warning("redis version %s has no bundle directory at %s: no ranking models, no report", version, bundle_dir)
        return CatalogData(version, manifest, movies, item_embeddings, similar, bundle_dir if bundle_dir.is_dir() else None)

    def _load_similar(self, version: str, name: str, movie_ids: list[int]) -> dict[int, tuple[list[int], list[float]]]:
        out: dict[int, tuple[list[int], list[float]]] = {}
        for start in range(0, len(movie_ids), _SIM_CHUNK):
            chunk = movie_ids[start : start + _SIM_CHUNK]
            values = self.client.mget([self.keys.sim(version, name, m) for m in chunk])
            for movie_id, raw in zip(chunk, values, strict=False):
                if raw is not None:
                    out[movie_id] = decode_similar(raw)
        return out

    def user_state(self, version: str, user_id: int, user_embeddings: Sequence[str]) -> UserState:
        names = tuple(user_embeddings)
        key: _OfflineKey = (version, user_id, names)
        cached = self._cached(key)
        with self._guard("user state"):
            pipe = self.client.pipeline(transaction=False)
            if cached is None:
                pipe.hgetall(self.keys.user(version, user_id))
                for name in names:
                    pipe.get(self.keys.uemb(version, name, user_id))
            pipe.lrange(self.keys.rt_history(user_id), 0, RT_HISTORY_MAX - 1)
            pipe.hgetall(self.keys.rt_emb(user_id))
            results = pipe.execute()
        raw_hist, raw_rt = results[-2], results[-1]
        if cached is None:
            cached = self._decode_offline(user_id, names, results[0], results[1 : 1 + len(names)])
            self._remember(key, cached)
        snapshot, vectors = cached
        history = [int(m) for m in raw_hist]
        rt = {(k.decode() if isinstance(k, bytes) else k): decode_vector(v) for k, v in raw_rt.items()}
        # copies of the cached dicts: a caller that adds a key must not change the next request's state
        return UserState(user_id, dict(snapshot) if snapshot is not None else None, dict(vectors), history, rt)

    @staticmethod
    def _decode_offline(user_id: int, names: tuple[str, ...], raw_user: Any, raw_embs: list[Any]) -> _OfflinePart:
        snapshot = decode_record(raw_user, USER_SCHEMA) if raw_user else None
        if snapshot is not None:
            snapshot["userId"] = user_id
        vectors = {n: decode_vector(v) for n, v in zip(names, raw_embs, strict=False) if v}
        for vector in vectors.values():
            vector.flags.writeable = False  # shared by every request that hits the cache
        return snapshot, vectors

    def _cached(self, key: _OfflineKey) -> _OfflinePart | None:
        if self._offline_cache is None:
            return None
        with self._cache_lock:
            part = self._offline_cache.get(key)
            if part is None:
                self.cache_misses += 1
            else:
                self.cache_hits += 1
            return part

    def _remember(self, key: _OfflineKey, part: _OfflinePart) -> None:
        if self._offline_cache is not None:
            with self._cache_lock:
                self._offline_cache[key] = part

    def cache_info(self) -> dict[str, int]:
        """Hits, misses and size of the user cache (all 0 when it is off)."""
        with self._cache_lock:
            size = len(self._offline_cache) if self._offline_cache is not None else 0
            return {"hits": self.cache_hits, "misses": self.cache_misses, "size": size}

    def forget_version(self, version: str) -> None:
        if self._offline_cache is None:
            return
        with self._cache_lock:
            for key in [k for k in self._offline_cache if k[0] == version]:
                del self._offline_cache[key]

    def sample_user_ids(self, version: str, n: int) -> list[int]:
        prefix = self.keys.user(version, 0)[:-1]
        ids: list[int] = []
        with self._guard("sample users"):
            for key in self.client.scan_iter(match=prefix + "*", count=500):
                ids.append(int(key.decode().rsplit(":", 1)[1]))
                if len(ids) >= n * 4:
                    break
        return sorted(ids)[:n]

    def append_event(
        self,
        event: Mapping[str, Any],
        positive_movie_id: int | None,
        rt_embeddings: Mapping[str, np.ndarray],
    ) -> str:
        user_id = int(event["userId"])
        fields = {k: str(v) for k, v in event.items() if v is not None}
        with self._guard("append event"):
            # one MULTI: the event and the nearline state change together or not at all
            pipe = self.client.pipeline(transaction=True)
            pipe.xadd(self.keys.events(), fields, maxlen=EVENTS_STREAM_MAXLEN, approximate=True)
            if positive_movie_id is not None:
                hist = self.keys.rt_history(user_id)
                pipe.lrem(hist, 0, positive_movie_id)
                pipe.lpush(hist, positive_movie_id)
                pipe.ltrim(hist, 0, RT_HISTORY_MAX - 1)
            if rt_embeddings:
                pipe.hset(self.keys.rt_emb(user_id), mapping={k: encode_vector(v) for k, v in rt_embeddings.items()})
            results = pipe.execute()
        event_id = results[0]
        return event_id.decode() if isinstance(event_id, bytes) else str(event_id)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def close(self) -> None:
        self.client.close()

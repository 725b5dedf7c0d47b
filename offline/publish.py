"""Load a bundle into Redis under its version, then switch ``current`` atomically.

Order of writes, chosen so that a process killed at any point leaves what is served unchanged:

1. register the version in the ``loading`` set (so an abandoned load can be found and deleted);
2. versioned data, in pipelined batches: movie hashes, the movies blob (Parquet bytes), user
   hashes, item-embedding blobs, per-user vectors of user embeddings, similar lists;
3. verify the key counts of the version against the bundle;
4. the manifest key (its presence means "complete"), then the ``versions`` sorted set;
5. one ``SET current`` — the only write that changes what the online side serves;
6. delete old versions beyond the newest ``keep`` and abandoned loads (``SCAN`` + ``UNLINK``),
   never the current one.

Until step 5 no key that the online side reads (it only follows ``current``) has changed, so a
kill anywhere before it leaves the old version live; a re-run simply loads the version again.
Every key and value encoding comes from :mod:`sparrow.redis_keys`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pyarrow.parquet as pq
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sparrow.bundle import Bundle, is_user_embedding
from sparrow.redis_keys import RedisKeys, encode_matrix, encode_record, encode_similar, encode_vector

log = logging.getLogger(__name__)

ProgressHook = Callable[[str, int], None]
DEFAULT_BATCH = 1000
SCAN_COUNT = 5000


class PublishError(RuntimeError):
    """Publishing failed; ``current`` was not switched (unless the message says otherwise)."""


def _redacted(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def connect(redis_url: str, timeout_s: float) -> redis.Redis:
    """A client whose every socket operation is bounded by ``timeout_s`` and that never retries,
    so a down or hung Redis raises :class:`PublishError` quickly instead of hanging."""
    client = redis.Redis.from_url(
        redis_url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
    )
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        client.close()
        raise PublishError(f"Redis at {_redacted(redis_url)} is unreachable ({exc}); nothing was published") from exc
    return client


def _batches(path: Path, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    """Rows of a Parquet file as dicts, ``batch_size`` at a time (bounded memory for large tables)."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
        yield batch.to_pylist()


class _Loader:
    """Pipelined writer that reports progress after each flushed batch."""

    def __init__(self, client: redis.Redis, batch_size: int, hook: ProgressHook | None) -> None:
        self.client = client
        self.batch_size = batch_size
        self.hook = hook
        self.pipe = client.pipeline(transaction=False)
        self.pending = 0
        self.written: dict[str, int] = {}

    def add(self, stage: str, count: int = 1) -> None:
        self.pending += count
        self.written[stage] = self.written.get(stage, 0) + count
        if self.pending >= self.batch_size:
            self.flush(stage)

    def flush(self, stage: str) -> None:
        if self.pending:
            self.pipe.execute()
            self.pending = 0
        if self.hook is not None:
            self.hook(stage, self.written.get(stage, 0))


def _load_version(bundle: Bundle, keys: RedisKeys, loader: _Loader, batch_size: int) -> dict[str, int]:
    """Write every versioned data key of ``bundle``; return the expected key count per key prefix."""
    v = bundle.version
    pipe = loader.pipe
    expected: dict[str, int] = {}

    def hashes(stage: str, path: Path, id_col: str, key: Callable[[str, int], str]) -> None:
        n = 0
        for rows in _batches(path, batch_size):
            for row in rows:
                name = key(v, int(row[id_col]))
                pipe.delete(name)  # a re-run must not leave fields of an earlier attempt behind
                pipe.hset(name, mapping=encode_record(row))
                loader.add(stage)
                n += 1
        loader.flush(stage)
        expected[key(v, 0)[:-1]] = n  # prefix of the key family, e.g. "sparrow:movie:{v}:"

    hashes("movies", bundle.movies_path, "movieId", keys.movie)
    pipe.set(keys.movies_blob(v), bundle.movies_path.read_bytes())
    loader.add("movies_blob")
    loader.flush("movies_blob")
    expected[keys.movies_blob(v)] = 1
    hashes("users", bundle.users_path, "userId", keys.user)

    for name in bundle.embeddings():
        table = pq.read_table(bundle.embedding_path(name), columns=["id", "vector"])
        if is_user_embedding(name):
            stage = f"uemb:{name}"
            n = 0
            for batch in table.to_batches(max_chunksize=batch_size):
                for user_id, vector in zip(batch.column("id").to_pylist(), batch.column("vector").to_pylist(), strict=True):
                    pipe.set(keys.uemb(v, name, int(user_id)), encode_vector(vector))
                    loader.add(stage)
                    n += 1
            loader.flush(stage)
            expected[keys.uemb(v, name, 0)[:-1]] = n
        else:
            ids = table.column("id").to_numpy()
            matrix = np.array(table.column("vector").to_pylist(), dtype=np.float32).reshape(len(ids), -1)
            pipe.set(keys.emb(v, name), encode_matrix(ids, matrix))
            loader.add(f"emb:{name}")
            loader.flush(f"emb:{name}")
            expected[keys.emb(v, name)] = 1

    for name in bundle.similar_lists():
        stage = f"sim:{name}"
        n = 0
        for rows in _batches(bundle.similar_path(name), batch_size):
            for row in rows:
                pipe.set(keys.sim(v, name, int(row["movieId"])), encode_similar(row["similar"], row["scores"]))
                loader.add(stage)
                n += 1
        loader.flush(stage)
        expected[keys.sim(v, name, 0)[:-1]] = n
    return expected


def count_version_keys(client: redis.Redis, keys: RedisKeys, v: str, families: list[str]) -> dict[str, int]:
    """Count the keys of version ``v`` per family (exact key or key prefix) with one SCAN."""
    found = dict.fromkeys(families, 0)
    by_length = sorted(families, key=len, reverse=True)  # longest prefix first: "sim:..:item2vec:" vs others
    for raw in client.scan_iter(match=keys.version_pattern(v), count=SCAN_COUNT):
        key = raw.decode() if isinstance(raw, bytes) else raw
        for family in by_length:
            if key == family or (family.endswith(":") and key.startswith(family)):
                found[family] += 1
                break
    return found


def delete_version(client: redis.Redis, keys: RedisKeys, v: str) -> int:
    """Remove every key of version ``v`` (bookkeeping first, so it is never taken for complete)."""
    client.zrem(keys.versions(), v)
    deleted = int(client.unlink(keys.manifest(v)))
    batch: list[Any] = []
    for key in client.scan_iter(match=keys.version_pattern(v), count=SCAN_COUNT):
        batch.append(key)
        if len(batch) >= SCAN_COUNT:
            deleted += int(client.unlink(*batch))
            batch = []
    if batch:
        deleted += int(client.unlink(*batch))
    client.zrem(keys.loading(), v)
    return deleted


def prune(client: redis.Redis, keys: RedisKeys, keep: int, abandoned_after_s: float) -> list[str]:
    """Delete complete versions beyond the newest ``keep`` and loads abandoned for ``abandoned_after_s``.

    The version named by ``current`` is never deleted. Returns the deleted versions.
    """
    raw_current = client.get(keys.current())
    current = raw_current.decode() if raw_current else None
    newest_first = [m.decode() for m in client.zrevrange(keys.versions(), 0, -1)]
    doomed = [v for v in newest_first[max(keep, 0):] if v != current]
    complete = set(newest_first)
    cutoff = time.time() - abandoned_after_s
    for member, started in client.zrange(keys.loading(), 0, -1, withscores=True):
        v = member.decode()
        if v not in complete and v != current and started <= cutoff:
            doomed.append(v)
    for v in doomed:
        log.info("deleting Redis version %s (%d keys)", v, delete_version(client, keys, v))
    return doomed


def publish_bundle(
    bundle: Bundle,
    redis_url: str,
    prefix: str = "sparrow:",
    keep: int = 2,
    timeout_s: float = 5.0,
    *,
    batch_size: int = DEFAULT_BATCH,
    abandoned_after_s: float = 3600.0,
    on_progress: ProgressHook | None = None,
) -> dict[str, Any]:
    """Load ``bundle`` into Redis under its version and make it current (see the module doc).

    ``on_progress(stage, keys_written)`` is called after every flushed batch (the CLI draws a
    progress bar with it; tests use it to kill the process at chosen points). Loads of other
    versions that started more than ``abandoned_after_s`` ago and never completed are deleted.
    Only one publisher should run at a time. Raises :class:`PublishError` when Redis is down
    (within ``timeout_s``) or a count check fails; ``current`` is then unchanged.
    Returns ``{"version", "previous", "counts", "deleted", "seconds"}``.
    """
    started = time.monotonic()
    keys = RedisKeys(prefix)
    v = bundle.version
    client = connect(redis_url, timeout_s)
    hook = on_progress or (lambda stage, n: None)
    try:
        raw_previous = client.get(keys.current())
        previous = raw_previous.decode() if raw_previous else None
        if previous == v and client.exists(keys.manifest(v)):
            # Rewriting the live version in place would briefly serve a mix; it is complete already.
            hook("current", 0)
            return {"version": v, "previous": previous, "counts": {}, "deleted": [], "seconds": 0.0}
        client.zadd(keys.loading(), {v: time.time()})
        client.zrem(keys.versions(), v)  # being rewritten: not complete until the manifest is back
        client.unlink(keys.manifest(v))
        loader = _Loader(client, batch_size, hook)
        expected = _load_version(bundle, keys, loader, batch_size)
        found = count_version_keys(client, keys, v, list(expected))
        hook("verify", sum(found.values()))
        wrong = {family: (found[family], n) for family, n in expected.items() if found[family] != n}
        if wrong:
            raise PublishError(f"version {v}: key counts differ from the bundle (found, expected): {wrong}")
        manifest = dict(bundle.manifest, published_at=time.time())
        client.set(keys.manifest(v), json.dumps(manifest, sort_keys=True, default=str))
        hook("manifest", 1)
        client.zadd(keys.versions(), {v: time.time()})
        hook("versions", 1)
        client.set(keys.current(), v)  # the switch: one atomic write
        client.zrem(keys.loading(), v)
        hook("current", 1)
        deleted = prune(client, keys, keep, abandoned_after_s)
        hook("prune", len(deleted))
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise PublishError(f"Redis at {_redacted(redis_url)} failed during publish of {v} ({exc})") from exc
    finally:
        client.close()
    seconds = round(time.monotonic() - started, 3)
    counts = dict(loader.written)
    log.info("published %s to Redis (%d keys, previous %s) in %.1f s", v, sum(found.values()), previous, seconds)
    return {"version": v, "previous": previous, "counts": counts, "deleted": deleted, "seconds": seconds}

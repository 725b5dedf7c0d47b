"""Publishing a bundle to a real redis-server: content, atomic switch under SIGKILL, pruning, Redis down."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis

from offline.publish import PublishError, publish_bundle
from sparrow.bundle import Bundle, open_bundle, user_embedding_name, write_bundle
from sparrow.redis_keys import RedisKeys, decode_matrix, decode_record, decode_similar, decode_vector

pytestmark = pytest.mark.redis

KEYS = RedisKeys("sparrow:")
N_MOVIES, N_USERS, DIM = 40, 30, 4


def make_bundle(artifacts: Path, version: str, seed: int) -> Bundle:
    """A small but complete bundle: movies, users, item/user embeddings and two similar lists."""
    rng = np.random.default_rng(seed)
    movie_ids = np.arange(1, N_MOVIES + 1, dtype=np.int64)
    user_ids = np.arange(1, N_USERS + 1, dtype=np.int64)
    movies = pd.DataFrame({
        "movieId": movie_ids,
        "title": [f"Movie {i} v{seed}" for i in movie_ids],
        "year": rng.integers(1950, 2020, N_MOVIES),
        "genres": [["Drama", "Comedy"][: 1 + i % 2] for i in range(N_MOVIES)],
        "avgRating": rng.uniform(1, 5, N_MOVIES),
        "ratingCount": rng.integers(1, 100, N_MOVIES),
        "ratingStddev": rng.uniform(0, 1, N_MOVIES),
        "imdbId": movie_ids + 1000,
        "tmdbId": movie_ids + 2000,
    })
    users = pd.DataFrame({
        "userId": user_ids,
        "userRatingCount": rng.integers(1, 50, N_USERS),
        "userAvgRating": rng.uniform(1, 5, N_USERS),
        "recentPositives": [rng.choice(movie_ids, 3, replace=False).tolist() for _ in range(N_USERS)],
        "recentRatings": [[{"movieId": 1, "rating": 4.0, "timestamp": 10}] for _ in range(N_USERS)],
    })

    def emb(ids: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"id": ids, "vector": list(rng.normal(size=(len(ids), DIM)).astype(np.float32))})

    def sim(k: int) -> pd.DataFrame:
        return pd.DataFrame({
            "movieId": movie_ids,
            "similar": [[int(m) for m in movie_ids if m != i][:k] for i in movie_ids],
            "scores": [np.linspace(1, 0.5, k, dtype=np.float32) for _ in movie_ids],
        })

    with write_bundle(artifacts, version) as writer:
        movies.to_parquet(writer.movies_path)
        users.to_parquet(writer.users_path)
        embeddings = {"item2vec": emb(movie_ids), user_embedding_name("item2vec"): emb(user_ids), "als_user": emb(user_ids)}
        for name, frame in embeddings.items():
            frame.to_parquet(writer.embedding_path(name))
            writer.manifest["embeddings"][name] = {"rows": len(frame), "dim": DIM}
        for name in ("item2vec", "genre"):
            sim(5).to_parquet(writer.similar_path(name))
            writer.manifest["similar"][name] = {"rows": N_MOVIES}
        writer.commit()
    return open_bundle(artifacts, version)


def version_keys(client: redis.Redis, version: str) -> int:
    return sum(1 for _ in client.scan_iter(match=KEYS.version_pattern(version), count=1000))


# keys per complete version: movie + user hashes, movies blob, one item emb blob, 2 user embeddings, 2 lists
KEYS_PER_VERSION = N_MOVIES + N_USERS + 1 + 1 + 2 * N_USERS + 2 * N_MOVIES


def assert_complete(client: redis.Redis, bundle: Bundle) -> None:
    v = bundle.version
    assert client.exists(KEYS.manifest(v))
    assert json.loads(client.get(KEYS.manifest(v)))["version"] == v
    assert version_keys(client, v) == KEYS_PER_VERSION
    movies = pd.read_parquet(bundle.movies_path)
    record = decode_record(client.hgetall(KEYS.movie(v, 7)), {"title": str, "genres": list, "ratingCount": int})
    row = movies.set_index("movieId").loc[7]
    assert record == {"title": row["title"], "genres": list(row["genres"]), "ratingCount": int(row["ratingCount"])}
    ids, mat = decode_matrix(client.get(KEYS.emb(v, "item2vec")))
    frame = pd.read_parquet(bundle.embedding_path("item2vec"))
    np.testing.assert_array_equal(ids, frame["id"].to_numpy())
    np.testing.assert_array_equal(mat, np.stack(frame["vector"].to_list()))
    als_user = pd.read_parquet(bundle.embedding_path("als_user")).set_index("id")
    np.testing.assert_array_equal(decode_vector(client.get(KEYS.uemb(v, "als_user", 3))), als_user.loc[3, "vector"])
    assert decode_similar(client.get(KEYS.sim(v, "genre", 1)))[0] == [2, 3, 4, 5, 6]
    assert client.get(KEYS.movies_blob(v)) == bundle.movies_path.read_bytes()


def test_publish_writes_every_key_and_switches_current(tmp_path: Path, redis_url: str) -> None:
    bundle = make_bundle(tmp_path, "20250101T000000000000Z-aaaaaaaa", seed=1)
    result = publish_bundle(bundle, redis_url, batch_size=16)
    client = redis.Redis.from_url(redis_url)
    assert client.get(KEYS.current()).decode() == bundle.version
    assert result["version"] == bundle.version and result["previous"] is None
    assert result["counts"]["movies"] == N_MOVIES and result["counts"]["users"] == N_USERS
    assert [m.decode() for m in client.zrange(KEYS.versions(), 0, -1)] == [bundle.version]
    assert client.zcard(KEYS.loading()) == 0
    assert_complete(client, bundle)
    # user hash carries list-of-struct columns as JSON
    user = decode_record(client.hgetall(KEYS.user(bundle.version, 2)), {"recentRatings": list, "recentPositives": list})
    assert user["recentRatings"][0]["movieId"] == 1 and len(user["recentPositives"]) == 3


def test_old_versions_beyond_keep_are_deleted(tmp_path: Path, redis_url: str) -> None:
    bundles = [make_bundle(tmp_path, f"2025010{i}T000000000000Z-aaaaaaaa", seed=i) for i in range(1, 4)]
    client = redis.Redis.from_url(redis_url)
    client.set("sparrow:rt:user:1:history", "nearline state survives")
    for bundle in bundles:
        result = publish_bundle(bundle, redis_url)
    assert result["deleted"] == [bundles[0].version]
    assert version_keys(client, bundles[0].version) == 0 and not client.exists(KEYS.manifest(bundles[0].version))
    assert_complete(client, bundles[1])
    assert_complete(client, bundles[2])
    assert client.get(KEYS.current()).decode() == bundles[2].version
    assert client.get("sparrow:rt:user:1:history") == b"nearline state survives"


KILL_SCRIPT = """
import sys, time
from offline.publish import publish_bundle
from sparrow.bundle import open_bundle
artifacts, version, url, target = sys.argv[1:5]
def hook(stage, n):
    if stage == target:
        print("REACHED", stage, n, flush=True)
        time.sleep(120)
publish_bundle(open_bundle(artifacts, version), url, batch_size=8, on_progress=hook)
print("DONE", flush=True)
"""


def publish_and_kill(artifacts: Path, version: str, url: str, target: str) -> None:
    """Run publish in a subprocess and SIGKILL it right after it reports ``target``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(artifacts), version, url, target],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("REACHED"), f"publish never reached {target}: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    "target",
    ["movies", "users", "uemb:user_item2vec", "emb:item2vec", "sim:genre", "verify", "manifest", "versions"],
)
def test_publish_killed_mid_load_leaves_current_unchanged(tmp_path: Path, redis_url: str, target: str) -> None:
    old = make_bundle(tmp_path, "20250101T000000000000Z-aaaaaaaa", seed=1)
    new = make_bundle(tmp_path, "20250102T000000000000Z-bbbbbbbb", seed=2)
    publish_bundle(old, redis_url)
    client = redis.Redis.from_url(redis_url)
    publish_and_kill(tmp_path, new.version, redis_url, target)
    assert client.get(KEYS.current()).decode() == old.version
    assert_complete(client, old)  # served data untouched
    assert version_keys(client, new.version) > 0  # it really was killed mid-load
    result = publish_bundle(new, redis_url)  # a re-run completes
    assert result["previous"] == old.version
    assert client.get(KEYS.current()).decode() == new.version
    assert_complete(client, new)
    assert_complete(client, old)  # keep=2


def test_killed_after_switch_serves_complete_new_version(tmp_path: Path, redis_url: str) -> None:
    old = make_bundle(tmp_path, "20250101T000000000000Z-aaaaaaaa", seed=1)
    new = make_bundle(tmp_path, "20250102T000000000000Z-bbbbbbbb", seed=2)
    publish_bundle(old, redis_url)
    publish_and_kill(tmp_path, new.version, redis_url, "current")
    client = redis.Redis.from_url(redis_url)
    assert client.get(KEYS.current()).decode() == new.version
    assert_complete(client, new)


def test_abandoned_load_is_deleted_by_next_publish(tmp_path: Path, redis_url: str) -> None:
    old = make_bundle(tmp_path, "20250101T000000000000Z-aaaaaaaa", seed=1)
    dead = make_bundle(tmp_path, "20250102T000000000000Z-bbbbbbbb", seed=2)
    new = make_bundle(tmp_path, "20250103T000000000000Z-cccccccc", seed=3)
    publish_bundle(old, redis_url)
    publish_and_kill(tmp_path, dead.version, redis_url, "users")
    client = redis.Redis.from_url(redis_url)
    assert version_keys(client, dead.version) > 0
    result = publish_bundle(new, redis_url, abandoned_after_s=0.0)
    assert result["deleted"] == [dead.version]
    assert version_keys(client, dead.version) == 0
    assert_complete(client, old)
    assert_complete(client, new)


def test_republishing_the_current_version_is_a_no_op(tmp_path: Path, redis_url: str) -> None:
    bundle = make_bundle(tmp_path, "20250101T000000000000Z-aaaaaaaa", seed=1)
    publish_bundle(bundle, redis_url)
    again = publish_bundle(bundle, redis_url)
    assert again["previous"] == bundle.version and again["counts"] == {}
    assert_complete(redis.Redis.from_url(redis_url), bundle)


def test_redis_down_is_a_quick_clear_error(tmp_path: Path, own_redis_server) -> None:  # type: ignore[no-untyped-def]
    bundle = make_bundle(tmp_path, "20250101T000000000000Z-aaaaaaaa", seed=1)
    own_redis_server.stop()
    started = time.monotonic()
    with pytest.raises(PublishError, match="unreachable"):
        publish_bundle(bundle, own_redis_server.url, timeout_s=1.0)
    assert time.monotonic() - started < 3.0


def test_hung_redis_times_out_instead_of_hanging(tmp_path: Path) -> None:
    """A server that accepts connections but never answers (e.g. stopped with SIGSTOP)."""
    bundle = make_bundle(tmp_path, "20250101T000000000000Z-aaaaaaaa", seed=1)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        with pytest.raises(PublishError, match="unreachable"):
            publish_bundle(bundle, f"redis://:secret@127.0.0.1:{listener.getsockname()[1]}/0", timeout_s=0.5)
        assert time.monotonic() - started < 3.0
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_password_is_not_in_the_error(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, "20250101T000000000000Z-aaaaaaaa", seed=1)
    port = 1  # nothing listens on port 1 of loopback
    with pytest.raises(PublishError) as info:
        publish_bundle(bundle, f"redis://user:hunter2@127.0.0.1:{port}/0", timeout_s=0.5)
    assert "hunter2" not in str(info.value) and "***" in str(info.value)

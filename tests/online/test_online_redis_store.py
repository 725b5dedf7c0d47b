"""RedisStore against a real redis-server: API parity with the FileStore, nearline keys, Redis-down behaviour.

Bundles are loaded with the real publisher, ``offline.publish.publish_bundle``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from offline.publish import publish_bundle
from sparrow.bundle import open_bundle, read_current
from sparrow.redis_keys import RedisKeys

pytestmark = pytest.mark.redis
PREFIX = "sparrow:"


def publish(artifacts: Path, url: str, version: str) -> None:
    """Load the bundle with the real publisher, exactly as ``sparrow offline publish`` does."""
    publish_bundle(open_bundle(artifacts, version), url, prefix=PREFIX)


@pytest.fixture
def redis_client_app(artifacts_copy: Path, own_redis_server, make_client):  # type: ignore[no-untyped-def]
    publish(artifacts_copy, own_redis_server.url, read_current(artifacts_copy) or "")
    client = make_client(artifacts_copy, redis_url=own_redis_server.url, redis_timeout_s=0.3)
    assert client.app.state.service.store.kind == "redis"
    return client, own_redis_server


def test_redis_store_serves_the_api(redis_client_app) -> None:  # type: ignore[no-untyped-def]
    client, _ = redis_client_app
    assert client.get("/readyz").json()["store"] == "redis"
    assert client.get("/api/movies/1").json()["movieId"] == 1
    assert client.get("/api/movies/1/similar?size=5").json()["items"]
    uid = client.app.state.service.sample_user_ids(3)[0]
    user = client.get(f"/api/users/{uid}").json()
    assert user["known"] is True and user["history"]
    body = client.get(f"/api/users/{uid}/recommendations?size=12").json()
    assert len(body["items"]) == 12 and body["degraded"] is False and body["model"] == "deepfm"
    channels = {c for i in body["items"] for c in i["channels"]}
    assert channels & {"embedding", "item2item", "als"}
    assert not {h["movieId"] for h in user["history"]} & {i["movieId"] for i in body["items"]}
    # the whole rated history reaches the seen-filter through the Redis user hash
    service = client.app.state.service
    cat = service.catalog()
    rated = service.store.user_state(cat.version, uid, ()).snapshot["ratedMovies"]
    assert len(rated) >= len(user["history"]) and all(isinstance(m, int) for m in rated)
    assert not set(rated) & {i["movieId"] for i in body["items"]}


def test_redis_nearline_writes(redis_client_app) -> None:  # type: ignore[no-untyped-def]
    client, server = redis_client_app
    uid = client.app.state.service.sample_user_ids(1)[0]
    target = client.get(f"/api/users/{uid}/recommendations?size=5").json()["items"][0]["movieId"]
    resp = client.post("/api/ratings", json={"userId": uid, "movieId": target, "rating": 4.5})
    assert resp.status_code == 202
    r = redis.Redis.from_url(server.url)
    keys = RedisKeys(PREFIX)
    entries = r.xrange(keys.events())
    assert entries[-1][0].decode() == resp.json()["id"]
    assert entries[-1][1][b"movieId"] == str(target).encode()
    assert int(r.lrange(keys.rt_history(uid), 0, 0)[0]) == target
    assert b"item2vec" in r.hgetall(keys.rt_emb(uid))
    after = client.get(f"/api/users/{uid}/recommendations?size=20").json()["items"]
    assert target not in [i["movieId"] for i in after]
    r.close()


def test_redis_down_degrades_and_recovers(redis_client_app) -> None:  # type: ignore[no-untyped-def]
    client, server = redis_client_app
    uid = client.app.state.service.sample_user_ids(1)[0]
    client.post("/api/ratings", json={"userId": uid, "movieId": 1, "rating": 4.0})
    server.stop()
    start = time.monotonic()
    movie = client.get("/api/movies/1")
    recs = client.get(f"/api/users/{uid}/recommendations?size=10")
    assert movie.status_code == 200
    assert recs.status_code == 200 and recs.json()["degraded"] is True and len(recs.json()["items"]) == 10
    assert {c for i in recs.json()["items"] for c in i["channels"]} <= {"popular", "genre"}
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["ready"] is False
    write = client.post("/api/ratings", json={"userId": uid, "movieId": 2, "rating": 4.0})
    assert write.status_code == 503 and write.json()["error"]["code"] == "store_unavailable"
    assert time.monotonic() - start < 10  # bounded by socket timeouts, never a hang
    assert "sparrow_store_errors_total" in client.get("/metrics").text
    server.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and client.get("/readyz").status_code != 200:
        time.sleep(0.2)
    assert client.get("/readyz").status_code == 200
    assert client.post("/api/ratings", json={"userId": uid, "movieId": 2, "rating": 4.0}).status_code == 202
    assert client.get(f"/api/users/{uid}/recommendations?size=5").json()["degraded"] is False


def test_redis_version_switch_reloads(redis_client_app, artifacts_copy: Path) -> None:  # type: ignore[no-untyped-def]
    client, server = redis_client_app
    r = redis.Redis.from_url(server.url)
    keys = RedisKeys(PREFIX)
    old = client.app.state.service.version()
    r.set(keys.current(), "missing-version")  # a pointer to an unpublished version is refused
    resp = client.post("/admin/reload", headers={"Authorization": "Bearer test-admin-token"})
    assert resp.status_code == 409 and client.app.state.service.version() == old
    r.set(keys.current(), old)
    r.close()


def test_redis_user_cache_keeps_the_versioned_part_and_rereads_nearline(redis_client_app) -> None:  # type: ignore[no-untyped-def]
    client, server = redis_client_app
    service = client.app.state.service
    store, version = service.store, service.catalog().version
    uid = service.sample_user_ids(1)[0]
    names = ("user_item2vec", "als_user")
    first = store.user_state(version, uid, names)
    assert first.snapshot is not None and first.embeddings
    before = store.cache_info()
    r = redis.Redis.from_url(server.url)
    keys = RedisKeys(PREFIX)
    # the versioned keys vanish, a nearline positive arrives: the cache answers the first, Redis the second
    r.delete(keys.user(version, uid), *(keys.uemb(version, n, uid) for n in names))
    r.lpush(keys.rt_history(uid), 4242)
    first.snapshot["userId"] = -1  # a caller's change to its copy must not reach the cache
    second = store.user_state(version, uid, names)
    assert second.snapshot is not None and second.snapshot["userId"] == uid
    assert second.snapshot["ratedMovies"] == first.snapshot["ratedMovies"]
    assert set(second.embeddings) == set(first.embeddings)
    assert second.rt_history[0] == 4242
    after = store.cache_info()
    assert after["hits"] == before["hits"] + 1 and after["size"] >= 1
    text = client.get("/metrics").text
    assert 'sparrow_user_cache_lookups_total{result="hit"}' in text and "sparrow_user_cache_entries" in text
    # a retired version's entries go; the deleted keys then show through
    store.forget_version(version)
    assert store.user_state(version, uid, names).snapshot is None
    r.close()


def test_redis_user_cache_off_reads_every_request(artifacts_copy: Path, own_redis_server, make_client) -> None:  # type: ignore[no-untyped-def]
    publish(artifacts_copy, own_redis_server.url, read_current(artifacts_copy) or "")
    client = make_client(artifacts_copy, redis_url=own_redis_server.url, user_cache_size=0)
    service = client.app.state.service
    store, version = service.store, service.catalog().version
    uid = service.sample_user_ids(1)[0]
    assert store.user_state(version, uid, ()).snapshot is not None
    r = redis.Redis.from_url(own_redis_server.url)
    r.delete(RedisKeys(PREFIX).user(version, uid))
    assert store.user_state(version, uid, ()).snapshot is None
    assert store.cache_info() == {"hits": 0, "misses": 0, "size": 0}
    assert "sparrow_user_cache_lookups" in client.get("/metrics").text
    r.close()

"""No lost and no doubled events: 10,000 concurrent posts land once in the stream and once in the next run.

10,000 ratings and clicks (half each, every one a distinct user-movie pair) are posted to a live
server over the RedisStore, 32 in flight at a time. Every post must be acknowledged, the Redis
``events`` stream must then hold exactly 10,000 entries — each post once, with the values sent —
and the offline ingest with the stream included (what ``--include-events`` does) must turn the
5,000 ratings into exactly 5,000 valid ratings; re-reading the same stream in a later run must
not count them twice. The FileStore's ``events.jsonl`` gets the same check (2,000 posts, no Spark).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from reliability_support import PREFIX, ThreadServer, publish_to_redis

from sparrow.bundle import EVENTS_FILE
from sparrow.redis_keys import RedisKeys

pytestmark = pytest.mark.slow

TOTAL = 10_000
FILE_TOTAL = 2_000
IN_FLIGHT = 32
FIRST_USER = 500_000  # far above the synthetic users: no event collides with a CSV rating


def planned_events(movies: list[int], total: int = TOTAL) -> list[tuple[str, dict[str, Any]]]:
    """``total`` posts, half ratings and half clicks, each on its own (userId, movieId) pair."""
    posts: list[tuple[str, dict[str, Any]]] = []
    for i in range(total):
        user, movie = FIRST_USER + i // len(movies), movies[i % len(movies)]
        if i % 2 == 0:
            posts.append(("/api/ratings", {"userId": user, "movieId": movie, "rating": 0.5 + (i // 2) % 10 * 0.5,
                                           "timestamp": 1_700_000_000 + i}))
        else:
            posts.append(("/api/events", {"userId": user, "movieId": movie, "type": "click"}))
    return posts


async def _post_all(base: str, posts: list[tuple[str, dict[str, Any]]]) -> list[int]:
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as client:

        async def post(path: str, body: dict[str, Any]) -> int:
            async with gate:
                return (await client.post(path, json=body)).status_code

        return list(await asyncio.gather(*(post(p, b) for p, b in posts)))


def post_concurrently(base: str, posts: list[tuple[str, dict[str, Any]]]) -> tuple[list[int], float]:
    start = time.perf_counter()
    statuses = asyncio.run(_post_all(base, posts))
    return statuses, time.perf_counter() - start


def _key(event: dict[str, Any]) -> tuple[str, int, int]:
    return str(event["type"]), int(event["userId"]), int(event["movieId"])


def check_landed(posts: list[tuple[str, dict[str, Any]]], events: list[dict[str, Any]]) -> None:
    """Each post exactly once among ``events``, with the rating it was sent with."""
    assert len(events) == len(posts), f"{len(events)} events stored for {len(posts)} acknowledged posts"
    stored = {_key(e): e for e in events}
    assert len(stored) == len(posts), f"{len(posts) - len(stored)} events stored twice"
    for path, body in posts:
        kind = "rating" if path == "/api/ratings" else body["type"]
        event = stored.get((kind, body["userId"], body["movieId"]))
        assert event is not None, f"lost: {kind} {body}"
        if kind == "rating":
            assert float(event["rating"]) == body["rating"] and int(event["timestamp"]) == body["timestamp"], event


@pytest.mark.redis
@pytest.mark.spark
def test_ten_thousand_events_redis_then_offline_exactly_once(
    artifacts: Path, redis_url: str, hostile_data: Path, spark: Any, thread_server: Callable[..., ThreadServer]
) -> None:
    publish_to_redis(artifacts, redis_url)
    server = thread_server(artifacts, redis_url=redis_url, redis_timeout_s=2.0)
    posts = planned_events(sorted(server.service.catalog().movies))
    statuses, seconds = post_concurrently(server.base, posts)
    print(f"\nredis store: {TOTAL} posts, {IN_FLIGHT} in flight, {seconds:.1f} s ({TOTAL / seconds:.0f}/s)")
    assert statuses.count(202) == TOTAL, {s: statuses.count(s) for s in set(statuses)}

    client = redis.Redis.from_url(redis_url)
    try:
        key = RedisKeys(PREFIX).events()
        assert client.xlen(key) == TOTAL
        events = [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in client.xrange(key)]
    finally:
        client.close()
    check_landed(posts, events)

    # the next offline run: ingest with the stream included, twice (a re-run re-reads the whole stream)
    from offline.events import collect_events, events_frame
    from offline.ingest import ingest

    ratings_posted = {(b["userId"], b["movieId"]): b["rating"] for p, b in posts if p == "/api/ratings"}
    totals = []
    for run in (1, 2):
        started = time.perf_counter()
        lines = collect_events(None, redis_url, PREFIX)
        assert len(lines) == TOTAL
        result = ingest(spark, hostile_data, events_frame(spark, lines))
        assert result.row_counts["events_read"] == len(ratings_posted), result.row_counts
        assert result.quarantine_counts.get("events", {}) == {}, result.quarantine_counts
        rows = result.ratings.where(f"userId >= {FIRST_USER}").collect()
        got = {(int(r["userId"]), int(r["movieId"])): float(r["rating"]) for r in rows}
        assert len(rows) == len(got) == len(ratings_posted), (run, len(rows), len(got))
        assert got == ratings_posted
        totals.append(result.row_counts["ratings"])
        print(f"ingest run {run}: {result.row_counts} in {time.perf_counter() - started:.1f} s")
    assert totals[0] == totals[1], f"re-reading the stream changed the rating count: {totals}"


def test_concurrent_events_file_store(artifacts: Path, thread_server: Callable[..., ThreadServer]) -> None:
    """The FileStore's append under the same concurrency (2,000 posts: the 10,000 run is the Redis one)."""
    server = thread_server(artifacts)
    posts = planned_events(sorted(server.service.catalog().movies), FILE_TOTAL)
    statuses, seconds = post_concurrently(server.base, posts)
    print(f"\nfile store: {FILE_TOTAL} posts, {IN_FLIGHT} in flight, {seconds:.1f} s ({FILE_TOTAL / seconds:.0f}/s)")
    assert statuses.count(202) == FILE_TOTAL, {s: statuses.count(s) for s in set(statuses)}
    lines = (artifacts / EVENTS_FILE).read_text(encoding="utf-8").splitlines()
    check_landed(posts, [json.loads(line) for line in lines])

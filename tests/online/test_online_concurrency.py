"""Recall + ranking requests run at most ``rank_threads`` at once; reloads freeze the catalogue out of the GC."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from online.heap import settle_after_load


class _Gauge:
    """Counts the calls running at once and remembers the peak."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            try:
                time.sleep(0.05)  # long enough that concurrent requests overlap here
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.now -= 1

        return wrapped


def _peak_concurrency(client: TestClient, paths: list[str], method: str = "GET", json: Any = None) -> tuple[int, list[int]]:
    service = client.app.state.service  # type: ignore[attr-defined]
    gauge = _Gauge()
    service.recommend = gauge.wrap(service.recommend)
    service.recommend_session = gauge.wrap(service.recommend_session)

    async def fire() -> list[int]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as ac:
            statuses: list[int] = []

            async def one(path: str) -> None:
                statuses.append((await ac.request(method, path, json=json)).status_code)

            async with anyio.create_task_group() as tg:
                for path in paths:
                    tg.start_soon(one, path)
            return statuses

    statuses = anyio.run(fire)
    return gauge.peak, statuses


@pytest.mark.parametrize("threads", [1, 3])
def test_recommendations_run_at_most_rank_threads_at_once(factory_artifacts: Path, make_client, threads: int) -> None:  # type: ignore[no-untyped-def]
    client = make_client(factory_artifacts, rank_threads=threads)
    paths = [f"/api/users/{u}/recommendations?size=5" for u in range(1, 9)]
    paths += ["/getrecforyou?id=1&size=3", "/getrecforyou?id=2&size=3", "/users/1", "/users/2"]
    peak, statuses = _peak_concurrency(client, paths)
    assert statuses == [200] * len(paths)
    assert peak == threads  # twelve requests in flight (API and web pages), never more than `threads` inside at once


def test_session_recommendations_share_the_limit(factory_artifacts: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(factory_artifacts, rank_threads=2)
    liked = client.get("/api/movies?size=3").json()["items"]
    body = {"liked": [m["movieId"] for m in liked], "size": 5}
    peak, statuses = _peak_concurrency(client, ["/api/recommendations/session"] * 6, method="POST", json=body)
    assert statuses == [200] * 6
    assert peak == 2


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_settle_collects_old_cycles_and_freezes_survivors() -> None:
    try:
        garbage = _cycle()  # unreachable already: collected by the settle
        kept = _Node()
        settle_after_load()
        assert garbage() is None
        assert gc.get_freeze_count() > 0
        assert not any(o is kept for o in gc.get_objects())  # frozen: outside every generation
        # a frozen object that later becomes cyclic garbage is collected by the next settle
        late = _Node()
        late.other = late
        settle_after_load()
        dead = weakref.ref(late)
        del late
        gc.collect()
        assert dead() is not None  # frozen objects are skipped by ordinary collections
        settle_after_load()
        assert dead() is None
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("freeze", [True, False])
def test_reload_freezes_the_catalogue_only_when_enabled(factory_artifacts: Path, make_client, freeze: bool) -> None:  # type: ignore[no-untyped-def]
    gc.unfreeze()
    try:
        make_client(factory_artifacts, gc_freeze=freeze)
        assert (gc.get_freeze_count() > 0) is freeze
    finally:
        gc.unfreeze()

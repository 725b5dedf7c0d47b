"""Soak: the server's memory stays flat over repeated version reloads and a steady stream of requests.

A ``sparrow serve`` subprocess (its own RSS) over two complete bundle versions with models is
warmed up, then swapped between the versions 20 times through ``POST /admin/reload`` with 100
mixed requests after each swap (2,000 in all: recommendations, movies, similar, search, ratings).
RSS is sampled after each round; its peak may not exceed the post-warm-up RSS by ``MAX_GROWTH_MB``
and the mean of the last quarter of rounds may not exceed the first quarter's by ``MAX_TREND_MB``.
The numbers are printed (they go into docs/reliability.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest
from reliability_support import ADMIN_TOKEN, ProcessServer
from sparrow_testing import load_bundle_factory

from sparrow.bundle import read_current, set_current

pytestmark = pytest.mark.slow

RELOADS = 20
REQUESTS_PER_ROUND = 100
MAX_GROWTH_MB = 150.0  # generous: a leak of one catalogue or model set per reload would exceed it fast
MAX_TREND_MB = 40.0  # first-quarter mean to last-quarter mean: ~2 MB per reload would fail it


def _rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def _round(client: httpx.Client, users: list[int], movies: list[int], offset: int) -> None:
    for i in range(REQUESTS_PER_ROUND):
        n = offset + i
        kind = n % 5
        movie, user = movies[n % len(movies)], users[n % len(users)]
        if kind == 0:
            response = client.get(f"/api/users/{user}/recommendations?size=20")
        elif kind == 1:
            response = client.get(f"/api/movies/{movie}")
        elif kind == 2:
            response = client.get(f"/api/movies/{movie}/similar?size=10")
        elif kind == 3:
            response = client.get("/api/search", params={"q": "the"})
        else:
            response = client.post("/api/ratings", json={"userId": user, "movieId": movie, "rating": 4.0})
        assert response.status_code < 300, (response.request.url, response.status_code, response.text[:300])


def test_memory_is_flat_over_reloads_and_requests(
    artifacts: Path, hostile_data: Path, process_server: Callable[..., ProcessServer]
) -> None:
    first = read_current(artifacts)
    assert first is not None
    second = load_bundle_factory("reliability_bundle_factory").build_bundle(hostile_data, artifacts, seed=6).version
    set_current(artifacts, first)
    server = process_server(artifacts, SPARROW_LOG_LEVEL="WARNING")
    server.wait_ready()
    pid = server.proc.pid
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    versions = [second, first]
    with httpx.Client(base_url=server.base, timeout=60) as client:
        users = list(range(1, 21))  # synthetic users are 1..120
        movies = [m["movieId"] for m in client.get("/api/movies?size=50").json()["items"]]

        def swap(n: int) -> None:
            target = versions[n % 2]
            set_current(artifacts, target)
            response = client.post("/admin/reload", headers=auth)
            assert response.status_code == 200 and response.json() == {"version": target, "changed": True}, response.text

        # warm-up: both versions loaded once, every code path run, before the baseline is taken
        for n in range(2):
            swap(n)
            _round(client, users, movies, n * REQUESTS_PER_ROUND)
        baseline = _rss_mb(pid)
        samples = []
        started = time.perf_counter()
        for n in range(RELOADS):
            swap(n)
            _round(client, users, movies, (n + 2) * REQUESTS_PER_ROUND)
            samples.append(_rss_mb(pid))
        seconds = time.perf_counter() - started
    # RSS saw-tooths with the swaps (the old catalogue is freed after the new one is loaded), so the
    # trend is taken between the means of the first and the last quarter of the rounds
    quarter = max(len(samples) // 4, 1)
    early, late = sum(samples[:quarter]) / quarter, sum(samples[-quarter:]) / quarter
    growth, trend = max(samples) - baseline, late - early
    print(f"\nsoak: {RELOADS} reloads + {RELOADS * REQUESTS_PER_ROUND} requests in {seconds:.0f} s; "
          f"RSS after warm-up {baseline:.0f} MB, peak {max(samples):.0f} MB (+{growth:.1f}), end {samples[-1]:.0f} MB; "
          f"mean of first/last quarter {early:.0f} -> {late:.0f} MB ({trend:+.1f} MB)")
    print("RSS per round (MB): " + " ".join(f"{s:.0f}" for s in samples))
    assert growth < MAX_GROWTH_MB, f"RSS peaked {growth:.0f} MB above the warm-up: {samples}"
    assert trend < MAX_TREND_MB, f"RSS trend {trend:+.0f} MB from the first to the last quarter: {samples}"

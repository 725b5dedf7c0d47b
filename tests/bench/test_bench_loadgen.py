"""The load generator stops by itself (count or time) and reports percentiles; it refuses non-loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from bench.loadgen import LoadSpec, Request, check_loopback, lag_p50_ms, run_load, run_open_loop, summarise
from bench.server import histogram_totals, stage_means_ms, user_cache_hit_rate


@pytest.fixture(scope="module")
def slow_server() -> Iterator[str]:
    """A uvicorn server in a thread: /fast answers at once, /slow after 50 ms."""
    import asyncio

    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/fast")
    async def fast() -> dict[str, int]:
        return {"ok": 1}

    @app.get("/slow")
    async def slow() -> dict[str, int]:
        await asyncio.sleep(0.05)
        return {"ok": 1}

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_stops_at_request_count(slow_server: str) -> None:
    result = run_load(slow_server, lambda i: Request("GET", "/fast"), LoadSpec(4, max_requests=40, max_seconds=30))
    assert result.ok == 40 and result.errors == 0
    assert result.stopped_by == "count"
    assert 0 < result.percentile(50) <= result.percentile(99)
    assert result.rps > 0


def test_stops_at_deadline(slow_server: str) -> None:
    t0 = time.perf_counter()
    result = run_load(slow_server, lambda i: Request("GET", "/slow"),
                      LoadSpec(2, max_requests=10_000, max_seconds=0.5))
    assert time.perf_counter() - t0 < 5
    assert result.stopped_by == "time"
    assert 0 < result.ok < 10_000
    assert result.percentile(50) >= 50.0  # the server sleeps 50 ms


def test_errors_are_counted_not_timed(slow_server: str) -> None:
    result = run_load(slow_server, lambda i: Request("GET", "/missing"), LoadSpec(1, 5, 10))
    assert result.ok == 0 and result.errors == 5 and result.statuses == {404: 5}
    s = summarise([result, result])
    assert s.errors == 10


def test_refuses_non_loopback() -> None:
    with pytest.raises(ValueError):
        check_loopback("http://example.com:80")
    check_loopback("http://127.0.0.1:8000")


def test_stage_means_from_prometheus_text() -> None:
    before = histogram_totals(
        '# HELP sparrow_stage_seconds t\n# TYPE sparrow_stage_seconds histogram\n'
        'sparrow_stage_seconds_bucket{stage="rank",le="+Inf"} 2\n'
        'sparrow_stage_seconds_sum{stage="rank"} 0.010\nsparrow_stage_seconds_count{stage="rank"} 2\n'
    )
    after = histogram_totals(
        '# HELP sparrow_stage_seconds t\n# TYPE sparrow_stage_seconds histogram\n'
        'sparrow_stage_seconds_bucket{stage="rank",le="+Inf"} 6\n'
        'sparrow_stage_seconds_sum{stage="rank"} 0.030\nsparrow_stage_seconds_count{stage="rank"} 6\n'
    )
    means = stage_means_ms(before, after, ("stage",))
    assert means == {"sparrow_stage_seconds{stage=rank}": pytest.approx(5.0)}


def test_user_cache_hit_rate_from_the_service_exposition() -> None:
    from prometheus_client import generate_latest

    from online.metrics import ServiceMetrics

    stats = {"hits": 3, "misses": 1, "size": 1}
    metrics = ServiceMetrics()
    assert user_cache_hit_rate(generate_latest(metrics.registry).decode()) is None  # no cache watched
    metrics.watch_user_cache(lambda: stats)
    assert user_cache_hit_rate(generate_latest(metrics.registry).decode()) == pytest.approx(0.75)
    stats.update(hits=0, misses=0)
    assert user_cache_hit_rate(generate_latest(metrics.registry).decode()) is None


def test_open_loop_offers_the_rate_and_stops(slow_server: str) -> None:
    t0 = time.perf_counter()
    result = run_open_loop(slow_server, lambda i: Request("GET", "/fast"),
                           LoadSpec(4, max_requests=10_000, max_seconds=1.0), rate_rps=100.0)
    assert time.perf_counter() - t0 < 10
    assert result.stopped_by == "time" and result.offered_rps == 100.0
    assert result.errors == 0
    assert 50 <= result.ok <= 160  # Poisson arrivals around 100 in one second
    assert 40 <= result.rps <= 160


def test_open_loop_counts_queueing_in_latency(slow_server: str) -> None:
    # 1 slot, 50 ms per request, 60 arrivals/s offered: arrivals queue behind the slot, and the
    # latency from each scheduled arrival grows far past the server's own 50 ms
    result = run_open_loop(slow_server, lambda i: Request("GET", "/slow"),
                           LoadSpec(1, max_requests=30, max_seconds=10.0, timeout_s=10.0), rate_rps=60.0)
    assert result.stopped_by == "count"
    assert result.ok + result.errors == 30
    assert result.percentile(50) >= 50.0
    assert result.percentile(99) > 3 * 50.0


def test_open_loop_cancels_what_outlives_the_timeout(slow_server: str) -> None:
    result = run_open_loop(slow_server, lambda i: Request("GET", "/slow"),
                           LoadSpec(1, max_requests=40, max_seconds=5.0, timeout_s=0.3), rate_rps=200.0)
    assert result.errors > 0  # the single slot cannot drain 40 x 50 ms in 0.3 s
    assert result.ok + result.errors == 40


def test_open_loop_splits_send_lag_from_request_time(slow_server: str) -> None:
    # the same queueing as above: the wait for the single slot is send lag, so what is left of each
    # latency is the server's own ~50 ms
    result = run_open_loop(slow_server, lambda i: Request("GET", "/slow"),
                           LoadSpec(1, max_requests=20, max_seconds=10.0, timeout_s=10.0), rate_rps=60.0)
    assert result.lags_ms is not None and result.lags_ms.shape == result.latencies_ms.shape
    request_ms = result.latencies_ms - result.lags_ms
    assert (result.lags_ms >= 0).all()
    assert 45.0 <= float(np.median(request_ms)) < 150.0
    assert float(np.percentile(result.lags_ms, 99)) > 2 * 50.0
    assert lag_p50_ms([result, result]) == pytest.approx(float(np.median(result.lags_ms)))
    closed = run_load(slow_server, lambda i: Request("GET", "/fast"), LoadSpec(1, 3, 10))
    assert closed.lags_ms is None and np.isnan(lag_p50_ms([closed]))


def test_idle_latency_split_and_busy_endpoint(slow_server: str) -> None:
    from fastapi.testclient import TestClient

    from bench.idle_latency import split_latency
    from bench.server import BUSY_PATH, create_bench_app

    result = run_open_loop(slow_server, lambda i: Request("GET", "/fast"),
                           LoadSpec(4, max_requests=20, max_seconds=5.0), rate_rps=50.0)
    parts = split_latency(result)
    assert np.allclose(parts["lag"] + parts["request"], parts["total"])
    with TestClient(create_bench_app()) as client:
        t0 = time.perf_counter()
        resp = client.get(BUSY_PATH, params={"ms": 20})
        assert resp.status_code == 200 and resp.json() == {"ms": 20.0}
        assert time.perf_counter() - t0 >= 0.02

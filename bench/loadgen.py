"""HTTP load generators (asyncio + httpx), closed and open loop, that always stop by themselves.

Closed loop (:func:`run_load`): ``concurrency`` workers each send one request, wait for the answer and
send the next, until either ``max_requests`` have been sent or ``max_seconds`` have passed — whichever
comes first — so a run is bounded in both count and time even when the server hangs (each request also
has a timeout). Its latency is tied to its throughput (Little's law: mean latency = concurrency / RPS).

Open loop (:func:`run_open_loop`): requests arrive at a fixed offered rate (Poisson arrivals, seeded),
whatever the server does, with at most ``concurrency`` in flight; a request's latency counts from its
scheduled arrival, so time spent queued behind a slow server is included (no coordinated omission).
This is how a latency objective at a given load is measured.

Only loopback addresses are accepted: this tool must never load anything but a local server.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass(frozen=True)
class Request:
    """One HTTP request: method, path (with query string) and an optional JSON body."""

    method: str
    path: str
    json: Any = None


@dataclass(frozen=True)
class LoadSpec:
    concurrency: int
    max_requests: int
    max_seconds: float
    warmup_requests: int = 0
    timeout_s: float = 10.0


@dataclass
class LoadResult:
    """Latencies (ms) of the successful requests of one run, and what went wrong."""

    concurrency: int
    latencies_ms: np.ndarray
    errors: int
    wall_s: float
    statuses: dict[int, int] = field(default_factory=dict)
    stopped_by: str = "count"  # "count" or "time"
    offered_rps: float | None = None  # open loop only: the arrival rate asked for
    # open loop only, aligned with latencies_ms: scheduled arrival -> request sent (the load generator's own
    # wake-up lag plus any wait for a free slot); latency minus lag is the time the request itself took
    lags_ms: np.ndarray | None = None

    @property
    def ok(self) -> int:
        return int(self.latencies_ms.size)

    @property
    def rps(self) -> float:
        """Successful requests per second of wall time."""
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.ok else float("nan")


def check_loopback(base_url: str) -> None:
    """Refuse any base URL whose host is not a loopback address."""
    host = urlsplit(base_url).hostname or ""
    if host not in LOOPBACK_HOSTS and not host.startswith("127."):
        raise ValueError(f"load generator only targets loopback, not {host!r}")


async def _run(base_url: str, make_request: Callable[[int], Request], spec: LoadSpec) -> LoadResult:
    limits = httpx.Limits(max_connections=spec.concurrency, max_keepalive_connections=spec.concurrency)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    sent = 0
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=spec.timeout_s) as client:

        async def send(i: int) -> tuple[int, float]:
            req = make_request(i)
            t0 = time.perf_counter()
            resp = await client.request(req.method, req.path, json=req.json)
            await resp.aread()
            return resp.status_code, (time.perf_counter() - t0) * 1000.0

        for i in range(spec.warmup_requests):  # connections, caches, lazy model loads
            with contextlib.suppress(httpx.HTTPError):
                await send(i)

        start = time.perf_counter()
        deadline = start + spec.max_seconds

        async def worker() -> None:
            nonlocal sent, errors
            while sent < spec.max_requests and time.perf_counter() < deadline:
                i = sent
                sent += 1
                try:
                    status, ms = await asyncio.wait_for(send(i), timeout=max(0.01, deadline - time.perf_counter()))
                except asyncio.TimeoutError:
                    if time.perf_counter() < deadline:
                        errors += 1
                    continue  # cut off by the run's own deadline: neither a success nor an error
                except httpx.HTTPError:
                    errors += 1
                    continue
                statuses[status] = statuses.get(status, 0) + 1
                if status < 400:
                    latencies.append(ms)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
        wall = time.perf_counter() - start
    return LoadResult(
        concurrency=spec.concurrency,
        latencies_ms=np.asarray(latencies, dtype=np.float64),
        errors=errors,
        wall_s=wall,
        statuses=statuses,
        stopped_by="count" if sent >= spec.max_requests else "time",
    )


def run_load(base_url: str, make_request: Callable[[int], Request], spec: LoadSpec) -> LoadResult:
    """Drive ``base_url`` (loopback only) with ``spec`` closed loop and return the measured latencies."""
    _check(base_url, spec)
    return asyncio.run(_run(base_url, make_request, spec))


def run_open_loop(base_url: str, make_request: Callable[[int], Request], spec: LoadSpec, rate_rps: float,
                  seed: int = 0) -> LoadResult:
    """Offer ``rate_rps`` requests per second (Poisson) to ``base_url``, at most ``spec.concurrency`` in flight.

    Arrivals stop at ``spec.max_requests`` or ``spec.max_seconds``; requests still queued or in flight
    ``spec.timeout_s`` after that are cancelled and counted as errors, so an overloaded server shows up
    as errors and long latencies rather than as a run that never ends.
    """
    _check(base_url, spec)
    if rate_rps <= 0:
        raise ValueError("rate_rps must be positive")
    return asyncio.run(_run_open(base_url, make_request, spec, rate_rps, seed))


def _check(base_url: str, spec: LoadSpec) -> None:
    check_loopback(base_url)
    if spec.concurrency < 1 or spec.max_requests < 1 or spec.max_seconds <= 0:
        raise ValueError("concurrency, max_requests and max_seconds must be positive")


async def _run_open(base_url: str, make_request: Callable[[int], Request], spec: LoadSpec, rate: float,
                    seed: int) -> LoadResult:
    limits = httpx.Limits(max_connections=spec.concurrency, max_keepalive_connections=spec.concurrency)
    latencies: list[float] = []
    lags: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    rng = random.Random(seed)
    slots = asyncio.Semaphore(spec.concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=spec.timeout_s) as client:
        for i in range(spec.warmup_requests):
            warm = make_request(i)
            with contextlib.suppress(httpx.HTTPError):
                await (await client.request(warm.method, warm.path, json=warm.json)).aread()

        async def arrive(i: int, scheduled: float) -> None:
            nonlocal errors
            req = make_request(i)
            try:
                async with slots:
                    sent = time.perf_counter()
                    resp = await client.request(req.method, req.path, json=req.json)
                    await resp.aread()
            except httpx.HTTPError:
                errors += 1
                return
            statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
            if resp.status_code < 400:
                latencies.append((time.perf_counter() - scheduled) * 1000.0)
                lags.append((sent - scheduled) * 1000.0)
            else:
                errors += 1

        start = time.perf_counter()
        deadline = start + spec.max_seconds
        tasks: list[asyncio.Task[None]] = []
        scheduled = start
        while len(tasks) < spec.max_requests:
            scheduled += rng.expovariate(rate)
            if scheduled >= deadline:
                break
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            tasks.append(asyncio.create_task(arrive(len(tasks), scheduled)))
        arrivals_end = time.perf_counter()
        _, pending = await asyncio.wait(tasks, timeout=spec.timeout_s) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        errors += len(pending)
        wall = max(arrivals_end - start, 1e-9)
    return LoadResult(
        concurrency=spec.concurrency,
        latencies_ms=np.asarray(latencies, dtype=np.float64),
        errors=errors,
        wall_s=wall,
        statuses=statuses,
        stopped_by="count" if len(tasks) >= spec.max_requests else "time",
        offered_rps=rate,
        lags_ms=np.asarray(lags, dtype=np.float64),
    )


def lag_p50_ms(results: list[LoadResult]) -> float:
    """Median over open-loop runs of each run's median send lag (ms); NaN when no run recorded one."""
    medians = [float(np.median(r.lags_ms)) for r in results if r.lags_ms is not None and r.lags_ms.size]
    return float(np.median(medians)) if medians else float("nan")


@dataclass(frozen=True)
class Summary:
    """Median and spread (min, max) over repeats of RPS and latency percentiles."""

    rps: tuple[float, float, float]
    p50: tuple[float, float, float]
    p95: tuple[float, float, float]
    p99: tuple[float, float, float]
    errors: int
    requests: int


def summarise(results: list[LoadResult]) -> Summary:
    """Median, min and max over repeated runs of the same scenario."""

    def stat(values: list[float]) -> tuple[float, float, float]:
        arr = np.asarray(values, dtype=np.float64)
        arr = arr[~np.isnan(arr)]
        if arr.size == 0:  # every run failed: no latency to report
            return float("nan"), float("nan"), float("nan")
        return float(np.median(arr)), float(arr.min()), float(arr.max())

    return Summary(
        rps=stat([r.rps for r in results]),
        p50=stat([r.percentile(50) for r in results]),
        p95=stat([r.percentile(95) for r in results]),
        p99=stat([r.percentile(99) for r in results]),
        errors=sum(r.errors for r in results),
        requests=sum(r.ok for r in results),
    )

"""The service under test: the real app in a uvicorn subprocess, plus a static floor endpoint.

``create_bench_app`` is a uvicorn factory: it builds the service's own app (``online.app.create_app``
with settings from the ``SPARROW_*`` environment, exactly as ``sparrow serve`` does) and registers
``GET /bench/static`` on the same app object, so the floor runs through the same server, middleware
and event loop as the endpoints it is compared with. Before the service exists it serves the floor
alone (and says so in ``/bench/info``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

FLOOR_PATH = "/bench/static"
BUSY_PATH = "/bench/busy"  # ?ms=N: a handler that spins N ms (bench.idle_latency)
# About the size of a small real answer, so the floor pays a realistic serialisation cost.
STATIC_PAYLOAD: dict[str, Any] = {
    "items": [{"movieId": i, "title": f"Movie {i}", "score": 1.0 / (i + 1)} for i in range(20)]
}


def create_bench_app() -> Any:
    """uvicorn factory: the service's app (or a bare FastAPI app) with the floor endpoint added."""
    from fastapi import FastAPI

    service_error = ""
    try:
        from online.app import create_app
        from sparrow.settings import Settings

        app = create_app(Settings())
    except ImportError as exc:  # the service is not built yet: serve the floor only
        app = FastAPI()
        service_error = f"online.app not importable: {exc}"

    async def bench_static() -> dict[str, Any]:
        return STATIC_PAYLOAD

    def bench_busy(ms: float = 5.0) -> dict[str, Any]:
        # spins rather than sleeps so it costs CPU like a real handler; sync, so it runs in the threadpool
        # as the service's own blocking handlers do
        end = time.perf_counter() + min(max(ms, 0.0), 1000.0) / 1000.0
        while time.perf_counter() < end:
            pass
        return {"ms": ms}

    async def bench_info() -> dict[str, Any]:
        return {"service": not service_error, "error": service_error, "pid": os.getpid()}

    app.add_api_route(FLOOR_PATH, bench_static, methods=["GET"], include_in_schema=False)
    app.add_api_route(BUSY_PATH, bench_busy, methods=["GET"], include_in_schema=False)
    app.add_api_route("/bench/info", bench_info, methods=["GET"], include_in_schema=False)
    # a catch-all route registered by the app would shadow ours: move ours to the front
    app.router.routes[:] = sorted(app.router.routes, key=lambda r: not getattr(r, "path", "").startswith("/bench/"))
    return app


@dataclass
class ServerProcess:
    """A uvicorn subprocess serving :func:`create_bench_app` on ``port`` (loopback), with RSS sampling."""

    port: int
    env: dict[str, str] = field(default_factory=dict)
    startup_timeout_s: float = 120.0
    workers: int = 1  # uvicorn worker processes (the floor runs on the same workers)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    peak_rss: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", **self.env}
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "bench.server:create_bench_app", "--host",
               "127.0.0.1", "--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        if self.workers > 1:
            cmd += ["--workers", str(self.workers)]
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     cwd=Path(__file__).resolve().parents[1])
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.url + FLOOR_PATH, timeout=1.0).status_code == 200:
                    self.sample_rss()
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not answer within {self.startup_timeout_s} s")

    def info(self) -> dict[str, Any]:
        return dict(httpx.get(self.url + "/bench/info", timeout=5).json())

    def sample_rss(self) -> int:
        """RSS (bytes) of the server process and its children now; remembers the peak."""
        from bench.tree_sampler import tree_rss

        if self.proc is None:
            return 0
        rss = tree_rss(self.proc.pid)
        self.peak_rss = max(self.peak_rss, rss)
        return rss

    def metrics_text(self) -> str:
        """The service's Prometheus exposition (empty when it has no /metrics)."""
        try:
            resp = httpx.get(self.url + "/metrics", timeout=5)
        except httpx.HTTPError:
            return ""
        return resp.text if resp.status_code == 200 else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- Prometheus text -> per-stage timings -----------------------------------------------------------

HistogramTotals = dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, float]]


def histogram_totals(text: str) -> HistogramTotals:
    """``(metric, labels) -> (sum, count)`` for every histogram/summary in a Prometheus exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    out: HistogramTotals = {}
    for family in text_string_to_metric_families(text):
        if family.type not in ("histogram", "summary"):
            continue
        for sample in family.samples:
            if not sample.name.endswith(("_sum", "_count")):
                continue
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k not in ("le", "quantile")))
            key = (family.name, labels)
            s, c = out.get(key, (0.0, 0.0))
            if sample.name.endswith("_sum"):
                s = float(sample.value)
            else:
                c = float(sample.value)
            out[key] = (s, c)
    return out


def user_cache_hit_rate(text: str) -> float | None:
    """Share of the store's user-cache lookups that hit (``sparrow_user_cache_lookups_total``), None without any."""
    from prometheus_client.parser import text_string_to_metric_families

    counts = {"hit": 0.0, "miss": 0.0}
    for family in text_string_to_metric_families(text):
        if family.name == "sparrow_user_cache_lookups":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels.get("result") in counts:
                    counts[sample.labels["result"]] = float(sample.value)
    total = counts["hit"] + counts["miss"]
    return counts["hit"] / total if total else None


def stage_means_ms(before: HistogramTotals, after: HistogramTotals, words: tuple[str, ...]) -> dict[str, float]:
    """Mean milliseconds per observation between two scrapes, for histograms whose name or labels hold a word.

    Histograms in seconds (the Prometheus convention, ``*_seconds``) are converted to ms.
    """
    means: dict[str, float] = {}
    for key, (s1, c1) in after.items():
        s0, c0 = before.get(key, (0.0, 0.0))
        if c1 - c0 <= 0:
            continue
        name, labels = key
        text = (name + " " + " ".join(v for _, v in labels)).lower()
        if not any(w in text for w in words):
            continue
        mean = (s1 - s0) / (c1 - c0)
        if not name.endswith("_ms"):  # Prometheus convention: seconds
            mean *= 1000.0
        label = name + ("{" + ",".join(f"{k}={v}" for k, v in labels) + "}" if labels else "")
        means[label] = mean
    return means


@contextmanager
def redis_server(port: int) -> Iterator[str]:
    """A throwaway redis-server on loopback ``port`` (no persistence); yields its URL, stops it after."""
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1",
         "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

"""Prometheus metrics of the service: requests and latency per route, recall/rank timings, store errors.

Each app gets its own ``CollectorRegistry`` (tests build many apps in one process, and the
default global registry would refuse duplicate metric names).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    """All metrics of one app instance."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "sparrow_http_requests_total", "HTTP requests by route and status.", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sparrow_http_request_seconds", "HTTP request latency by route.", ["method", "route"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.stage = Histogram(
            "sparrow_stage_seconds", "Time per recommendation stage (recall, rank, ...).", ["stage"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.channel_items = Counter(
            "sparrow_recall_channel_items_total", "Candidates contributed per recall channel.", ["channel"],
            registry=self.registry,
        )
        self.store_errors = Counter(
            "sparrow_store_errors_total", "Store (Redis) operations that failed.", ["operation"],
            registry=self.registry,
        )
        self.degraded = Counter(
            "sparrow_degraded_responses_total", "Responses answered by fallbacks.", registry=self.registry
        )
        self.reloads = Counter(
            "sparrow_reloads_total", "Bundle reload attempts by outcome.", ["outcome"], registry=self.registry
        )
        self.version_info = Gauge(
            "sparrow_bundle_info", "The loaded bundle version (value 1).", ["version"], registry=self.registry
        )

    def watch_user_cache(self, info: Callable[[], dict[str, int]]) -> None:
        """Export the store's user-cache counters (``Store.cache_info``), read at each scrape."""
        self.registry.register(_UserCacheCollector(info))

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stage.labels(stage).observe(time.perf_counter() - start)

    def set_version(self, version: str | None) -> None:
        self.version_info.clear()
        if version:
            self.version_info.labels(version).set(1)

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class _UserCacheCollector(Collector):
    """The store counts its own hits and misses (no metrics import there); this reads them on scrape."""

    def __init__(self, info: Callable[[], dict[str, int]]) -> None:
        self.info = info

    def collect(self):  # type: ignore[no-untyped-def]
        stats = self.info()
        if not stats:
            return
        lookups = CounterMetricFamily(
            "sparrow_user_cache_lookups", "User-cache lookups of the store by result.", labels=["result"]
        )
        lookups.add_metric(["hit"], stats["hits"])
        lookups.add_metric(["miss"], stats["misses"])
        yield lookups
        yield GaugeMetricFamily("sparrow_user_cache_entries", "Users held in the store's cache.", value=stats["size"])


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request under its route template."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            # the template (/api/movies/{movie_id}), not the raw path: bounded label cardinality
            name = getattr(route, "path", None) or "unmatched"
            method = Request(scope).method
            self.metrics.requests.labels(method, name, str(status["code"])).inc()
            self.metrics.latency.labels(method, name).observe(time.perf_counter() - start)

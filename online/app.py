"""``create_app``: the FastAPI application — store, catalogue, experiments, routers, web UI, reloads.

No module-level singletons: everything hangs off ``app.state`` (``service``, ``experiments``,
``metrics``, ``settings``), so tests build as many apps as they like, each with its own settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from online import schemas
from online.body_limit import BodyLimitMiddleware
from online.errors import install_error_handlers
from online.experiments import ExperimentRegistry
from online.metrics import MetricsMiddleware, ServiceMetrics
from online.routers import admin, events, experiments, health, legacy, movies, recommendations, users
from online.routers.deps import get_service
from online.service import RecommenderService
from online.store import open_store
from sparrow.settings import Settings, get_settings
from webui.routes import router as webui_router

log = logging.getLogger(__name__)
WEBUI_STATIC = Path(__file__).resolve().parents[1] / "webui" / "static"

__all__ = ["create_app", "get_service"]


async def _poll_reloads(service: RecommenderService, every_s: float) -> None:
    """Look for a new ``current`` version every ``every_s`` seconds; load it off the event loop."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await anyio.to_thread.run_sync(service.reload)
        except Exception:  # the poller must survive anything one attempt throws
            log.exception("reload poll failed")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app over ``settings`` (default: the environment); loads the current version now."""
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    metrics = ServiceMetrics()
    store = open_store(settings)
    metrics.watch_user_cache(store.cache_info)
    registry = ExperimentRegistry.from_settings(settings, getattr(store, "client", None))
    service = RecommenderService(settings, store, registry, metrics)
    result = service.reload()
    if result.version is None:
        log.warning("starting without a bundle (%s); /readyz stays red until one is published", result.error or "none")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        poller = asyncio.create_task(_poll_reloads(service, settings.reload_poll_s)) if settings.reload_poll_s > 0 else None
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            store.close()

    app = FastAPI(
        title="Sparrow RecSys",
        version="0.1.0",
        description="Movie recommendations: multi-channel recall, batched ranking, A/B tests, nearline updates.",
        lifespan=lifespan,
        responses={
            400: {"model": schemas.ErrorResponse, "description": "Malformed request (e.g. a body that is not UTF-8)."},
            413: {"model": schemas.ErrorResponse, "description": "Request body over SPARROW_MAX_BODY_BYTES."},
            500: {"model": schemas.ErrorResponse, "description": "Unexpected error (details in the log)."},
        },
    )
    app.state.settings = settings
    app.state.service = service
    app.state.experiments = registry
    app.state.metrics = metrics
    app.state.rank_limiter = anyio.CapacityLimiter(settings.rank_threads)
    install_error_handlers(app)
    for router in (health, movies, users, recommendations, events, experiments, admin, legacy):
        app.include_router(router.router)
    app.include_router(webui_router)
    if WEBUI_STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=WEBUI_STATIC), name="static")
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"])
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app

"""Dependencies shared by the routers: the service object and the admin guard."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import anyio
from fastapi import Header, Request

from online.errors import Forbidden, NotFound, Unauthorized
from online.service import RecommenderService


def service_of(request: Request) -> RecommenderService:
    """The app's :class:`RecommenderService` (``app.state.service``)."""
    return request.app.state.service


async def get_service(request: Request) -> RecommenderService:
    """``Depends`` form of :func:`service_of`.

    ``async`` on purpose: FastAPI runs a plain ``def`` dependency in its threadpool, one more thread
    hop per request (for the routes that are themselves ``def``) for what is an attribute read.
    """
    return service_of(request)


T = TypeVar("T")


async def run_ranked(request: Request, fn: Callable[..., T], *args: object) -> T:
    """Run a recall + ranking call ``fn(*args)`` in a worker thread, at most ``rank_threads`` at once.

    FastAPI's threadpool would run every in-flight request at once (40 threads); for CPU-bound work
    that holds the GIL they only take turns, each request finishing late. A capacity limiter queues
    them instead, so requests finish in arrival order and the GIL changes hands less often.
    """
    limiter: anyio.CapacityLimiter = request.app.state.rank_limiter
    return await anyio.to_thread.run_sync(partial(fn, *args), limiter=limiter)


def require_admin(request: Request, authorization: str | None = Header(None, include_in_schema=False)) -> None:
    """``Authorization: Bearer $SPARROW_ADMIN_TOKEN``; admin routes do not exist while no token is set."""
    token = service_of(request).settings.admin_token
    if token is None or not token.get_secret_value():
        raise NotFound("admin is disabled (set SPARROW_ADMIN_TOKEN to enable it)")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise Unauthorized("admin needs 'Authorization: Bearer <token>'")
    if not hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode()):
        raise Forbidden("admin token rejected")

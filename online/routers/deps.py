"""Dependencies shared by the routers: the service object and the admin guard."""

from __future__ import annotations

import hmac

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

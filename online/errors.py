"""Domain errors of the online service and the handlers that turn every error into ``{"error": {...}}``.

Routers and the service raise these; nothing else in ``online/`` builds an error response, so
every failure has the same JSON shape and no stack trace ever reaches a client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base of the domain errors: an HTTP status and a machine-readable code."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class InvalidParameter(ServiceError):
    """A request parameter is out of range or unknown; the message names the parameter."""

    status = 422
    code = "invalid_parameter"

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class Unavailable(ServiceError):
    """A dependency is down and no fallback exists (e.g. no bundle loaded, Redis down on a write)."""

    status = 503
    code = "unavailable"


class NoBundle(Unavailable):
    code = "no_bundle"


class StoreUnavailable(Unavailable):
    """The store (Redis) did not answer in time."""

    code = "store_unavailable"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The one error shape of the API."""
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content=error_body(code, message))


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_parameter",
    503: "unavailable",
}


def _validation_message(exc: RequestValidationError) -> str:
    """'size: Input should be less than or equal to 200; ...' — each problem names its parameter."""
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body", "header")]
        name = ".".join(loc) or "body"
        parts.append(f"{name}: {err.get('msg', 'invalid value')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors, HTTP errors, validation errors and anything unexpected to the JSON format."""

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_parameter", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code
        return JSONResponse(status_code=exc.status_code, content=error_body(code, message), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # logged with the trace on the server, never sent to the client
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; see the server log")

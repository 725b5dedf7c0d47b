"""Template environment and the small helpers every page route uses.

Templates are Jinja2 with autoescape forced on for every template (titles and user-supplied
text come from data files and query strings; they must always render as text). Service methods
may be plain or ``async``; :func:`call` runs plain ones in the thread pool so a slow ranking
call never blocks the event loop.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from online.errors import ServiceError
from sparrow.bundle import SIMILAR_LISTS
from webui.posters import genre_colour

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
USER_COOKIE = "sparrow_user"
SIMILAR_MODELS = SIMILAR_LISTS  # the movie page's model switch: every similar list a bundle can hold
_USER_ID = re.compile(r"^[1-9][0-9]{0,9}$")


def _isodate(epoch: int | float | None) -> str:
    """A Unix timestamp as ``YYYY-MM-DD`` (UTC); empty for a missing one."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(float(epoch), tz=timezone.utc).strftime("%Y-%m-%d")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # every template, whatever its extension
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["genre_colour"] = genre_colour
    env.filters["isodate"] = _isodate
    env.filters["stars"] = lambda v: "★" * round(float(v or 0)) + "☆" * (5 - round(float(v or 0)))
    return env


templates = Jinja2Templates(env=_environment())


def parse_user_id(raw: str | None) -> int | None:
    """A positive user id from a query value or cookie, or None when absent or malformed."""
    if raw is None:
        return None
    raw = raw.strip()
    return int(raw) if _USER_ID.match(raw) else None


def current_user(request: Request) -> int | None:
    """The visitor's user id: ``?user=`` wins over the user-picker cookie."""
    from_query = parse_user_id(request.query_params.get("user"))
    return from_query if from_query is not None else parse_user_id(request.cookies.get(USER_COOKIE))


def service_of(request: Request) -> Any:
    """The app's RecommenderService (set by ``online.app.create_app``)."""
    return request.app.state.service


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a service method whether it is sync (thread pool) or async (awaited)."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    result = await run_in_threadpool(fn, *args, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result


async def sample_users(request: Request, n: int = 12) -> list[int]:
    """A few user ids for the header's user picker; an empty list when the store cannot say."""
    try:
        return [int(u) for u in await call(service_of(request).sample_user_ids, n)]
    except ServiceError:  # no bundle yet / store down: the page itself says so
        return []
    except Exception:  # the picker is a convenience: never fail a page over it
        log.warning("sample_user_ids failed; user picker shows no suggestions", exc_info=True)
        return []


async def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render ``template`` with the context every page needs (current user, picker ids, search query)."""
    base: dict[str, Any] = {
        "user_id": current_user(request),
        "picker_users": await sample_users(request),
        "q": request.query_params.get("q", ""),
        "active": "",
        "page_title": "",
    }
    base.update(context or {})
    return templates.TemplateResponse(request, template, base, status_code=status_code)


async def error_page(request: Request, status_code: int, heading: str, message: str) -> HTMLResponse:
    """A friendly HTML error page (never JSON, never a stack trace) for a page route."""
    return await render(
        request,
        "error.html",
        {"status": status_code, "heading": heading, "message": message, "page_title": heading},
        status_code=status_code,
    )

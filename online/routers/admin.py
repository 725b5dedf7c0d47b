"""``/admin``: reload the bundle and replace the experiment config (Bearer token; off when unset)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.concurrency import run_in_threadpool

from online import schemas
from online.errors import ServiceError, StoreUnavailable
from online.routers.deps import get_service, require_admin
from online.service import RecommenderService

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])
_ERRORS = {
    409: {"model": schemas.ErrorResponse, "description": "The new version is corrupt or partial; the old one stays."},
    401: {"model": schemas.ErrorResponse, "description": "No bearer token."},
    403: {"model": schemas.ErrorResponse, "description": "Wrong token."},
    404: {"model": schemas.ErrorResponse, "description": "Admin is disabled (no SPARROW_ADMIN_TOKEN)."},
}


class ReloadRefused(ServiceError):
    status = 409
    code = "reload_refused"


@router.post("/reload", response_model=schemas.ReloadOut, responses=_ERRORS, summary="Load the current version now")
async def reload(service: RecommenderService = Depends(get_service)) -> schemas.ReloadOut:
    # loading a version is seconds of blocking I/O and TF: off the event loop
    result = await run_in_threadpool(service.reload)
    if result.failure == "unavailable":
        raise StoreUnavailable(result.error or "store unavailable")
    if result.failure == "refused":
        raise ReloadRefused(result.error or "version refused")
    return schemas.ReloadOut(version=result.version, changed=result.changed)


@router.put(
    "/experiments",
    response_model=list[schemas.Experiment],
    responses=_ERRORS,
    summary="Replace the experiment config (validated; shared by replicas through Redis)",
)
async def put_experiments(
    request: Request, body: list[schemas.Experiment] | dict[str, Any] = Body(...)
) -> list[schemas.Experiment]:
    registry = request.app.state.experiments
    if isinstance(body, dict):
        from online.experiments.config import parse_experiments

        experiments = parse_experiments(body, "request body")
    else:
        experiments = body
    return await run_in_threadpool(registry.replace_config, experiments)

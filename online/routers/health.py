"""Liveness (``/healthz``), readiness (``/readyz``) and Prometheus ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from online import schemas
from online.routers.deps import get_service
from online.service import RecommenderService

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=schemas.Health, summary="The process is up")
async def healthz() -> schemas.Health:
    return schemas.Health(status="ok")


@router.get(
    "/readyz",
    response_model=schemas.Ready,
    responses={503: {"model": schemas.Ready, "description": "No version loaded or the store is unreachable."}},
    summary="A bundle version is loaded and the store answers",
)
async def readyz(service: RecommenderService = Depends(get_service)) -> JSONResponse:
    ready = await run_in_threadpool(service.ready)
    return JSONResponse(status_code=200 if ready.ready else 503, content=ready.model_dump())


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return request.app.state.metrics.exposition()

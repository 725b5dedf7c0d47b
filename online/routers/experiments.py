"""``/api/experiments``: the experiment config and each experiment's report.

The registry is ``request.app.state.experiments`` (an :class:`online.experiments.ExperimentRegistry`);
an unknown name raises ``ExperimentNotFound`` and a dead Redis ``CountersUnavailable``, which the
service's error handlers turn into 404 / 503 ``{"error": {...}}`` answers.
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool

from online import schemas
from online.experiments import ExperimentRegistry

router = APIRouter(prefix="/api/experiments", tags=["experiments"])

_ERRORS = {
    404: {"model": schemas.ErrorResponse, "description": "No experiment of that name."},
    503: {"model": schemas.ErrorResponse, "description": "The experiment counters (Redis) are unavailable."},
}


def _registry(request: Request) -> ExperimentRegistry:
    return request.app.state.experiments


@router.get("", response_model=list[schemas.Experiment], summary="The experiments in force, in evaluation order")
async def list_experiments(request: Request) -> list[schemas.Experiment]:
    # may read the shared config from Redis (bounded by the client's socket timeout): off the event loop
    return await run_in_threadpool(_registry(request).experiments)


@router.get(
    "/{name}/report",
    response_model=schemas.ExperimentReport,
    responses=_ERRORS,
    summary="CTR per variant with 95% Wilson intervals and the p-value of the difference",
)
async def experiment_report(
    request: Request, name: str = Path(min_length=1, max_length=100, description="Experiment name.")
) -> schemas.ExperimentReport:
    return await run_in_threadpool(_registry(request).report, name)

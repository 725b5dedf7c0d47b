"""Nearline writes: ``POST /api/ratings`` and ``POST /api/events`` (durable, then real-time state)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from online import schemas
from online.routers.deps import get_service
from online.service import RecommenderService

router = APIRouter(prefix="/api", tags=["events"])
_ERRORS = {
    404: {"model": schemas.ErrorResponse, "description": "Unknown movie."},
    413: {"model": schemas.ErrorResponse, "description": "Body too large."},
    422: {"model": schemas.ErrorResponse, "description": "Invalid body (the field is named)."},
    503: {"model": schemas.ErrorResponse, "description": "The store is down: nothing was written."},
}


@router.post("/ratings", response_model=schemas.Accepted, status_code=202, responses=_ERRORS, summary="Rate a movie")
def add_rating(body: schemas.RatingIn, service: RecommenderService = Depends(get_service)) -> schemas.Accepted:
    return service.add_rating(body)


@router.post("/events", response_model=schemas.Accepted, status_code=202, responses=_ERRORS, summary="Click / view")
def add_event(body: schemas.EventIn, service: RecommenderService = Depends(get_service)) -> schemas.Accepted:
    return service.add_event(body)

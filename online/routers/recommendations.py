"""``POST /api/recommendations/session``: recommendations for an anonymous visitor's liked movies."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from online import schemas
from online.routers.deps import get_service, run_ranked
from online.routers.responses import json_response
from online.service import RecommenderService

router = APIRouter(prefix="/api/recommendations", tags=["recommendations"])


@router.post(
    "/session",
    response_model=schemas.Recommendations,
    responses={
        413: {"model": schemas.ErrorResponse, "description": "Body too large."},
        422: {"model": schemas.ErrorResponse, "description": "Invalid body (the field is named)."},
        503: {"model": schemas.ErrorResponse, "description": "No bundle loaded."},
    },
    summary="Recommendations from a list of liked movies",
)
async def session(
    request: Request, body: schemas.SessionRequest, service: RecommenderService = Depends(get_service)
) -> Response:
    return json_response(await run_ranked(request, service.recommend_session, body.liked, body.size))

"""``/api/users/{id}`` and the user's recommendations."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from online import schemas
from online.routers.deps import get_service, run_ranked
from online.routers.responses import json_response
from online.service import MAX_SIZE, RecommenderService

router = APIRouter(prefix="/api/users", tags=["users"])
_ERRORS = {
    404: {"model": schemas.ErrorResponse, "description": "Unknown user."},
    422: {"model": schemas.ErrorResponse, "description": "A parameter is invalid (named in the message)."},
    503: {"model": schemas.ErrorResponse, "description": "No bundle loaded, or the store is down (user reads)."},
}
UserId = Path(ge=1, le=2**62, description="MovieLens userId.")


@router.get("/{user_id}", response_model=schemas.User, responses=_ERRORS, summary="User features and history")
def get_user(user_id: int = UserId, service: RecommenderService = Depends(get_service)) -> schemas.User:
    return service.get_user(user_id)


@router.get(
    "/{user_id}/recommendations",
    response_model=schemas.Recommendations,
    responses=_ERRORS,
    summary="Recall -> rank recommendations (experiment variant and model in the answer)",
)
async def recommendations(
    request: Request,
    user_id: int = UserId,
    size: int = Query(20, ge=1, le=MAX_SIZE, description="Number of items (1..200)."),
    model: str | None = Query(None, max_length=50, description="Ranking model; wins over the experiment variant's."),
    explain: bool = Query(True, description="Include each item's recall channels."),
    service: RecommenderService = Depends(get_service),
) -> Response:
    return json_response(await run_ranked(request, service.recommend, user_id, size, model, explain))

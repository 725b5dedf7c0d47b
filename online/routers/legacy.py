"""SparrowRecSys's URLs and parameters, answering in its JSON shapes so its front-end and scripts work."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from online import schemas
from online.errors import InvalidParameter
from online.legacy_shapes import LEGACY_SORTS, legacy_model, legacy_movie, legacy_user
from online.pipeline import available_models
from online.routers.deps import get_service, run_ranked
from online.service import MAX_SIZE, RecommenderService
from sparrow.bundle import SIMILAR_LISTS

router = APIRouter(tags=["legacy"])
_ERRORS = {
    404: {"model": schemas.ErrorResponse, "description": "Unknown id."},
    422: {"model": schemas.ErrorResponse, "description": "A parameter is invalid (named in the message)."},
}
Size = Query(20, ge=1, le=MAX_SIZE)


@router.get("/getmovie", responses=_ERRORS, summary="SparrowRecSys: one movie")
def getmovie(id: int = Query(ge=1), service: RecommenderService = Depends(get_service)) -> dict[str, Any]:
    return legacy_movie(service.get_movie(id))


@router.get("/getuser", responses=_ERRORS, summary="SparrowRecSys: one user")
def getuser(id: int = Query(ge=1), service: RecommenderService = Depends(get_service)) -> dict[str, Any]:
    return legacy_user(service.get_user(id))


@router.get("/getsimilarmovie", responses=_ERRORS, summary="SparrowRecSys: similar movies (model=emb -> item2vec)")
def getsimilarmovie(
    movieId: int = Query(ge=1),
    size: int = Size,
    model: str | None = Query(None, max_length=50),
    service: RecommenderService = Depends(get_service),
) -> list[dict[str, Any]]:
    name = legacy_model(model) or "item2vec"
    if name not in SIMILAR_LISTS:
        raise InvalidParameter("model", f"unknown similar model {model!r} (emb, {', '.join(SIMILAR_LISTS)})")
    return [legacy_movie(m) for m in service.similar(movieId, name, size).items]  # type: ignore[arg-type]


@router.get("/getrecforyou", responses=_ERRORS, summary="SparrowRecSys: recommendations (model=emb|neuralcf|...)")
async def getrecforyou(
    request: Request,
    id: int = Query(ge=1),
    size: int = Size,
    model: str | None = Query(None, max_length=50),
    service: RecommenderService = Depends(get_service),
) -> list[dict[str, Any]]:
    return await run_ranked(request, _legacy_recs, service, id, size, model)


def _legacy_recs(service: RecommenderService, user_id: int, size: int, model: str | None) -> list[dict[str, Any]]:
    name = legacy_model(model)
    if name is not None and name not in available_models(service.catalog()):
        name = None  # its front-end always sends a model; one this bundle lacks means "the default"
    recs = service.recommend(user_id, size, name, explain=False)
    return [legacy_movie(service.get_movie(item.movieId)) for item in recs.items]


@router.get("/getrecommendation", responses=_ERRORS, summary="SparrowRecSys: movies of a genre, sorted")
def getrecommendation(
    genre: str | None = Query(None, max_length=100),
    size: int = Size,
    sortby: str = Query("rating", max_length=20),
    service: RecommenderService = Depends(get_service),
) -> list[dict[str, Any]]:
    sort = LEGACY_SORTS.get(sortby)
    if sort is None:
        raise InvalidParameter("sortby", "must be rating or releaseYear")
    return [legacy_movie(m) for m in service.list_movies(genre or None, sort, 1, size).items]

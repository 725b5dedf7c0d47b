"""``/api/movies``, ``/api/search``, ``/api/genres``: catalogue reads from the in-memory snapshot."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Response

from online import schemas
from online.routers.deps import get_service
from online.routers.responses import json_response
from online.service import MAX_SIZE, RecommenderService

router = APIRouter(prefix="/api", tags=["movies"])
_ERRORS = {
    404: {"model": schemas.ErrorResponse, "description": "Unknown movie or genre."},
    422: {"model": schemas.ErrorResponse, "description": "A parameter is invalid (named in the message)."},
    503: {"model": schemas.ErrorResponse, "description": "No bundle loaded."},
}
MovieId = Path(ge=1, le=2**62, description="MovieLens movieId.")
Size = Query(20, ge=1, le=MAX_SIZE, description="Number of items (1..200).")


@router.get("/movies/{movie_id}", response_model=schemas.Movie, responses=_ERRORS, summary="One movie")
def get_movie(movie_id: int = MovieId, service: RecommenderService = Depends(get_service)) -> Response:
    return json_response(service.get_movie(movie_id))


@router.get("/movies", response_model=schemas.MoviePage, responses=_ERRORS, summary="Movies by genre, sorted, paged")
def list_movies(
    genre: str | None = Query(None, max_length=100, description="Only movies of this genre."),
    sort: schemas.MovieSort = Query("popularity", description="rating | popularity | year"),
    page: int = Query(1, ge=1, le=100_000),
    size: int = Size,
    service: RecommenderService = Depends(get_service),
) -> schemas.MoviePage:
    return service.list_movies(genre, sort, page, size)


@router.get("/genres", response_model=list[str], responses=_ERRORS, summary="Genres of the catalogue")
def genres(service: RecommenderService = Depends(get_service)) -> list[str]:
    return service.genres()


@router.get("/search", response_model=list[schemas.Movie], responses=_ERRORS, summary="Title search")
def search(
    q: str = Query(min_length=1, max_length=200, description="Part of a title (case-insensitive)."),
    size: int = Size,
    service: RecommenderService = Depends(get_service),
) -> list[schemas.Movie]:
    return service.search(q, size)


@router.get(
    "/movies/{movie_id}/similar", response_model=schemas.SimilarResponse, responses=_ERRORS, summary="Similar movies"
)
def similar(
    movie_id: int = MovieId,
    size: int = Size,
    model: schemas.SimilarModel = Query("item2vec", description="Which similar list."),
    service: RecommenderService = Depends(get_service),
) -> Response:
    return json_response(service.similar(movie_id, model, size))

"""The web UI's page routes: server-rendered HTML over the RecommenderService, plus posters and report plots.

``online.app.create_app`` includes :data:`router` and mounts ``webui/static`` at ``/static``.
Pages call the service object directly (no HTTP round trip); the small JavaScript in
``static/app.js`` calls the REST API for the interactive parts (rating, clicks, model switch).
Unknown movies and users render a friendly 404 page; a missing bundle renders a 503 page.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from online.errors import NotFound, ServiceError, Unavailable
from online.routers.deps import run_ranked
from webui.charts import ctr_chart
from webui.posters import placeholder_svg, poster_svg
from webui.rendering import (
    SIMILAR_MODELS,
    call,
    current_user,
    error_page,
    parse_user_id,
    render,
    service_of,
)
from webui.report_view import metric_tables, plot_names

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

ROW_SIZE = 12
GRID_SIZE = 24
SIMILAR_SIZE = 12
MAX_GENRE_ROWS = 20
_POSITIVE_INT = re.compile(r"^[1-9][0-9]{0,9}$")
# only plain file names inside the report directory: no separators, no "..", an image extension
_REPORT_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.png$")
BROWSE_SORTS = {"popularity": "Most rated", "rating": "Top rated", "year": "Newest"}


async def _service_failure(request: Request, exc: ServiceError) -> HTMLResponse:
    if isinstance(exc, NotFound):
        return await error_page(request, 404, "Not found", exc.message)
    log.warning("page %s failed: %s", request.url.path, exc.message)
    heading = "Temporarily unavailable" if isinstance(exc, Unavailable) else "Something went wrong"
    return await error_page(request, exc.status, heading, exc.message)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    """Rows of poster cards: recommended for the picked user, popular, top rated, then one row per genre."""
    service = service_of(request)
    user_id = current_user(request)
    try:
        popular = await call(service.list_movies, None, "popularity", 1, ROW_SIZE)
        top_rated = await call(service.list_movies, None, "rating", 1, ROW_SIZE)
        genres = list(await call(service.genres))[:MAX_GENRE_ROWS]
        genre_rows = []
        for genre in genres:
            page = await call(service.list_movies, genre, "popularity", 1, ROW_SIZE)
            if page.items:
                genre_rows.append((genre, page.items))
    except ServiceError as exc:
        return await _service_failure(request, exc)
    recs = None
    rec_error = None
    if user_id is not None:
        try:
            recs = await run_ranked(request, service.recommend, user_id, ROW_SIZE, None, True)
        except ServiceError as exc:
            rec_error = exc.message
    return await render(
        request,
        "home.html",
        {
            "active": "home",
            "recs": recs,
            "rec_error": rec_error,
            "popular": popular.items,
            "top_rated": top_rated.items,
            "genre_rows": genre_rows,
        },
    )


@router.get("/browse", response_class=HTMLResponse)
async def browse(request: Request, genre: str = "", sort: str = "popularity", page: int = 1) -> HTMLResponse:
    """A paged grid of the catalogue, optionally one genre, sorted by popularity, rating or year."""
    service = service_of(request)
    sort = sort if sort in BROWSE_SORTS else "popularity"
    page = max(page, 1)
    try:
        result = await call(service.list_movies, genre or None, sort, page, GRID_SIZE)
        genres = list(await call(service.genres))
    except ServiceError as exc:
        return await _service_failure(request, exc)
    pages = max(1, -(-result.total // GRID_SIZE))
    return await render(
        request,
        "browse.html",
        {
            "active": "browse",
            "page_title": genre or "All movies",
            "genre": genre,
            "genres": genres,
            "sort": sort,
            "sorts": BROWSE_SORTS,
            "result": result,
            "pages": pages,
        },
    )


@router.get("/movies/{movie_id}", response_class=HTMLResponse)
async def movie_page(request: Request, movie_id: str, model: str = "item2vec") -> HTMLResponse:
    """Details, links, the rating widget and similar movies for the chosen embedding model."""
    if not _POSITIVE_INT.match(movie_id):
        return await error_page(request, 404, "Movie not found", f"There is no movie with id {movie_id!r}.")
    service = service_of(request)
    model = model if model in SIMILAR_MODELS else "item2vec"
    try:
        movie = await call(service.get_movie, int(movie_id))
    except NotFound:
        return await error_page(request, 404, "Movie not found", f"There is no movie with id {movie_id}.")
    except ServiceError as exc:
        return await _service_failure(request, exc)
    similar: list[Any] = []
    similar_error = None
    try:
        similar = (await call(service.similar, movie.movieId, model, SIMILAR_SIZE)).items
    except ServiceError as exc:
        similar_error = exc.message
    user_id = current_user(request)
    my_rating = None
    if user_id is not None:
        my_rating = await _rating_of(request, user_id, movie.movieId)
    return await render(
        request,
        "movie.html",
        {
            "page_title": movie.title,
            "movie": movie,
            "model": model,
            "models": SIMILAR_MODELS,
            "similar": similar,
            "similar_error": similar_error,
            "my_rating": my_rating,
        },
    )


async def _rating_of(request: Request, user_id: int, movie_id: int) -> float | None:
    """The visitor's latest rating of ``movie_id`` when it is in their history (else None)."""
    try:
        user = await call(service_of(request).get_user, user_id)
    except ServiceError:
        return None
    for entry in user.history:
        if entry.movieId == movie_id:
            return float(entry.rating)
    return None


@router.get("/users/{user_id}", response_class=HTMLResponse)
async def user_page(request: Request, user_id: str) -> HTMLResponse:
    """The user's rating history and their recommendations, with variant, model and per-item channels."""
    uid = parse_user_id(user_id)
    if uid is None:
        return await error_page(request, 404, "User not found", f"There is no user with id {user_id!r}.")
    service = service_of(request)
    try:
        user = await call(service.get_user, uid)
    except NotFound:
        return await error_page(request, 404, "User not found", f"There is no user with id {uid}.")
    except ServiceError as exc:
        return await _service_failure(request, exc)
    if not user.known and not user.history and not user.realtimePositives:
        return await error_page(
            request,
            404,
            "User not found",
            f"User {uid} has no ratings yet. Pick this id in the header and rate a few movies to start.",
        )
    try:
        recs = await run_ranked(request, service.recommend, uid, GRID_SIZE, None, True)
    except ServiceError as exc:
        return await _service_failure(request, exc)
    recent = await _movies_by_id(request, user.realtimePositives[:12])
    return await render(
        request,
        "user.html",
        {"page_title": f"User {uid}", "user": user, "recs": recs, "recent_positives": recent},
    )


async def _movies_by_id(request: Request, movie_ids: list[int]) -> list[Any]:
    """Movies for ``movie_ids`` in order, skipping ids the catalogue no longer holds."""
    movies = []
    for movie_id in movie_ids:
        try:
            movies.append(await call(service_of(request).get_movie, movie_id))
        except ServiceError:
            continue
    return movies


@router.get("/search", response_class=HTMLResponse)
async def search_page(request: Request, q: str = "") -> HTMLResponse:
    """Title search; results as poster cards."""
    query = q.strip()[:200]
    results: list[Any] = []
    if query:
        try:
            results = list(await call(service_of(request).search, query, 48))
        except ServiceError as exc:
            return await _service_failure(request, exc)
    return await render(
        request,
        "search.html",
        {"active": "search", "page_title": f"Search: {query}" if query else "Search", "query": query,
         "results": results},
    )


@router.get("/experiments", response_class=HTMLResponse)
async def experiments_page(request: Request) -> HTMLResponse:
    """Each experiment: its variants, exposures, clicks, CTR with confidence interval, and a chart."""
    registry = request.app.state.experiments
    try:
        experiments = list(await call(registry.experiments))
        rows = []
        for experiment in experiments:
            report = await call(registry.report, experiment.name)
            weights = {v.name: v for v in experiment.variants}
            rows.append(
                {
                    "experiment": experiment,
                    "report": report,
                    "variants": weights,
                    "chart": ctr_chart(report.variants, f"CTR per variant of {experiment.name}"),
                }
            )
    except ServiceError as exc:
        return await _service_failure(request, exc)
    return await render(
        request, "experiments.html", {"active": "experiments", "page_title": "Experiments", "rows": rows}
    )


@router.get("/report", response_class=HTMLResponse)
async def report_page(request: Request) -> HTMLResponse:
    """The bundle's offline report: metrics tables and the plots the offline run produced."""
    service = service_of(request)
    try:
        report = await call(service.report)
        version = await call(service.version)
    except ServiceError as exc:
        return await _service_failure(request, exc)
    plots = [name for name in await plot_names(service, report) if _REPORT_IMAGE.match(name)]
    return await render(
        request,
        "report.html",
        {
            "active": "report",
            "page_title": "Model report",
            "version": version,
            "tables": metric_tables(report),
            "plots": plots,
        },
    )


@router.get("/report/img/{name}")
async def report_image(request: Request, name: str) -> Response:
    """A plot from the bundle's report directory; any other path is refused with 404."""
    if not _REPORT_IMAGE.match(name) or ".." in name:
        return await error_page(request, 404, "Not found", "No such report image.")
    try:
        path = await call(service_of(request).report_file, name)
    except ServiceError:
        return await error_page(request, 404, "Not found", "No such report image.")
    # defence in depth: the resolved file must sit directly in the directory the service named
    if path is None or not path.is_file() or path.resolve().parent != path.parent.resolve():
        return await error_page(request, 404, "Not found", "No such report image.")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "public, max-age=300"})


@router.get("/posters/{poster}")
async def poster(request: Request, poster: str) -> Response:
    """The generated SVG poster of a movie (``/posters/1.svg``); a neutral poster with 404 when unknown."""
    stem = poster.removesuffix(".svg")
    headers = {"Cache-Control": "public, max-age=86400"}
    if not poster.endswith(".svg") or not _POSITIVE_INT.match(stem):
        return Response(placeholder_svg(), status_code=404, media_type="image/svg+xml")
    try:
        movie = await call(service_of(request).get_movie, int(stem))
    except ServiceError:
        return Response(placeholder_svg(), status_code=404, media_type="image/svg+xml")
    svg = poster_svg(movie.movieId, movie.title, movie.year, movie.genres)
    return Response(svg, media_type="image/svg+xml", headers=headers)

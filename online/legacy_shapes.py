"""SparrowRecSys's own JSON shapes, which its jQuery front-end reads field by field (DESIGN §4).

A movie is ``{movieId, title, releaseYear, imdbId, tmdbId, genres, averageRating, ratingNumber,
topRatings: [{rating: {movieId, userId, score, timestamp}}]}``; a user is ``{userId,
averageRating, highestRating, lowestRating, ratingCount, ratings: [{rating: {...}}]}``.
"""

from __future__ import annotations

from typing import Any

from online import schemas

# SparrowRecSys's model names -> ours
LEGACY_MODELS = {"emb": "item2vec", "neuralcf": "neural_cf", "nerualcf": "neural_cf"}
LEGACY_SORTS = {"rating": "rating", "releaseYear": "year", "releaseyear": "year", "popularity": "popularity"}


def legacy_model(name: str | None) -> str | None:
    """Map a SparrowRecSys model name onto ours (unknown names pass through to be validated)."""
    if name is None or not name.strip():
        return None
    return LEGACY_MODELS.get(name.strip(), name.strip())


def legacy_rating(movie_id: int, user_id: int, score: float, timestamp: int) -> dict[str, Any]:
    return {"rating": {"movieId": movie_id, "userId": user_id, "score": score, "timestamp": timestamp}}


def legacy_movie(movie: schemas.Movie) -> dict[str, Any]:
    """A movie in SparrowRecSys's shape (the bundle keeps no per-movie rating list: topRatings is empty)."""
    return {
        "movieId": movie.movieId,
        "title": movie.title,
        "releaseYear": movie.year if movie.year is not None else -1,
        "imdbId": movie.imdbId or "",
        "tmdbId": movie.tmdbId or "",
        "genres": list(movie.genres),
        "averageRating": round(movie.avgRating, 4),
        "ratingNumber": movie.ratingCount,
        "topRatings": [],
    }


def legacy_user(user: schemas.User) -> dict[str, Any]:
    """A user in SparrowRecSys's shape, ratings newest first."""
    f = user.features
    return {
        "userId": user.userId,
        "averageRating": float(f.get("userAvgRating", 0.0)),
        "highestRating": float(f.get("highestRating", 0.0)),
        "lowestRating": float(f.get("lowestRating", 0.0)),
        "ratingCount": int(float(f.get("userRatingCount", len(user.history)))),
        "ratings": [legacy_rating(e.movieId, user.userId, e.rating, e.timestamp) for e in user.history],
    }

"""An in-memory stand-in for RecommenderService and the experiments registry.

The page routes only need the service's public methods, so the fast tests render every page
against this fake without building a bundle; the browser test runs the real app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from online import schemas
from online.errors import NotFound

HOSTILE_TITLE = '<script>alert("x")</script> & Friends'


def _movies() -> dict[int, schemas.Movie]:
    genres = ["Action", "Comedy", "Drama", "Sci-Fi"]
    movies = {
        i: schemas.Movie(
            movieId=i,
            title=f"Movie number {i}",
            year=1980 + i,
            genres=[genres[i % 4], genres[(i + 1) % 4]],
            avgRating=2.5 + (i % 5) / 2,
            ratingCount=100 - i,
            ratingStddev=0.8,
            imdbId=f"{i:07d}",
            tmdbId=str(1000 + i),
        )
        for i in range(1, 31)
    }
    movies[7] = movies[7].model_copy(update={"title": HOSTILE_TITLE})
    return movies


class FakeService:
    """Sync methods with the shapes of ``online.service.RecommenderService``."""

    def __init__(self, report_dir: Path) -> None:
        self.movies = _movies()
        self.report_dir = report_dir
        self.rated: dict[int, list[int]] = {}

    def get_movie(self, movie_id: int) -> schemas.Movie:
        if movie_id not in self.movies:
            raise NotFound(f"movie {movie_id} not found")
        return self.movies[movie_id]

    def list_movies(self, genre: str | None, sort: str, page: int, size: int) -> schemas.MoviePage:
        items = [m for m in self.movies.values() if genre is None or genre in m.genres]
        key = {"rating": lambda m: -m.avgRating, "year": lambda m: -(m.year or 0)}.get(sort, lambda m: -m.ratingCount)
        items.sort(key=key)
        return schemas.MoviePage(items=items[(page - 1) * size : page * size], page=page, size=size, total=len(items))

    def genres(self) -> list[str]:
        return sorted({g for m in self.movies.values() for g in m.genres})

    def search(self, q: str, size: int) -> list[schemas.Movie]:
        return [m for m in self.movies.values() if q.lower() in m.title.lower()][:size]

    def similar(self, movie_id: int, model: str, size: int) -> schemas.SimilarResponse:
        self.get_movie(movie_id)
        offset = {"item2vec": 1, "deepwalk": 2, "node2vec": 3, "als": 5, "genre": 8}[model]
        ids = [(movie_id + offset * k) % 30 + 1 for k in range(1, size + 1)]
        items = [schemas.ScoredMovie(**self.movies[i].model_dump(), score=1.0 / k) for k, i in enumerate(ids, 1)]
        return schemas.SimilarResponse(movieId=movie_id, model=model, items=items)  # type: ignore[arg-type]

    def get_user(self, user_id: int) -> schemas.User:
        if user_id > 1000:
            raise NotFound(f"user {user_id} not found")
        history = [schemas.RatingEntry(movieId=7, title=HOSTILE_TITLE, rating=4.5, timestamp=1_000_000_000)]
        return schemas.User(userId=user_id, known=user_id < 500, history=history if user_id < 500 else [],
                            realtimePositives=self.rated.get(user_id, []))

    def recommend(self, user_id: int, size: int, model: str | None = None, explain: bool = True) -> schemas.Recommendations:
        seen = set(self.rated.get(user_id, []))
        items = [
            schemas.RecItem(movieId=m.movieId, title=m.title, score=1.0 / (i + 1), channels=["embedding", "popular"],
                            year=m.year, genres=m.genres)
            for i, m in enumerate(v for v in self.movies.values() if v.movieId not in seen)
        ][:size]
        return schemas.Recommendations(userId=user_id, experiment="ranking", variant="control", model="deepfm",
                                       items=items)

    def version(self) -> str:
        return "20250101T000000000000Z-abcdef12"

    def report(self) -> dict[str, Any]:
        return {
            "version": self.version(),
            "models": {"deepfm": {"roc_auc": 0.71234, "pr_auc": 0.6, "logloss": 0.61},
                       "din": {"roc_auc": 0.7, "pr_auc": 0.59, "logloss": 0.62}},
            "plots": ["roc.png"],
        }

    def report_file(self, name: str) -> Path:
        path = self.report_dir / name
        if not path.is_file():
            raise NotFound(f"report file {name} not found")
        return path

    def sample_user_ids(self, n: int) -> list[int]:
        return list(range(1, n + 1))


class FakeExperiments:
    """The two methods the experiments page reads."""

    def experiments(self) -> list[schemas.Experiment]:
        return [schemas.Experiment(name="ranking", salt="s", variants=[
            schemas.Variant(name="control", weight=50, model="deepfm"),
            schemas.Variant(name="treatment", weight=50, model="din"),
        ])]

    def report(self, name: str) -> schemas.ExperimentReport:
        return schemas.ExperimentReport(name=name, type="ab", p_value=0.2, variants=[
            schemas.VariantReport(name="control", exposures=100, clicks=7, ctr=0.07, ci_low=0.03, ci_high=0.14),
            schemas.VariantReport(name="treatment", exposures=90, clicks=9, ctr=0.1, ci_low=0.05, ci_high=0.17),
        ])

"""``RecommenderService``: the logic behind every route and the web UI's pages.

Every public method is **synchronous** and may block (store round trips, FAISS, TensorFlow):
call it from a plain ``def`` route (FastAPI runs those in its threadpool) or wrap it with
``starlette.concurrency.run_in_threadpool``; recommendations (API routes and web pages) go
through ``online.routers.deps.run_ranked``, which bounds how many run at once. The catalogue of
the live version is one reference (``self._catalog``) replaced by a single assignment on reload,
so a request that captured it keeps a consistent snapshot to the end.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from online import pipeline, schemas
from online.catalog import Catalog
from online.errors import InvalidParameter, NoBundle, NotFound, StoreUnavailable, Unavailable
from online.heap import settle_after_load
from online.metrics import ServiceMetrics
from online.nearline import (
    interaction_event,
    is_positive,
    merged_positives,
    rating_event,
    realtime_embeddings,
)
from online.recall.channels import ANN_EMBEDDINGS, FALLBACK_CHANNELS
from online.recall.merge import effective_quotas
from online.store.base import Store, UserState
from sparrow.bundle import TWO_TOWER_USER, BundleError, is_user_embedding, user_embedding_name
from sparrow.feature_spec import USER_FEATURES
from sparrow.settings import Settings

log = logging.getLogger(__name__)

MAX_SIZE = 200
USER_EMBEDDINGS_READ = ("als_user", TWO_TOWER_USER, *(user_embedding_name(n) for n in ANN_EMBEDDINGS))


@dataclass
class ReloadResult:
    version: str | None
    changed: bool
    error: str | None = None
    # "unavailable" (store down: try later) or "refused" (the new version is corrupt/partial)
    failure: str | None = None


class RecommenderService:
    """Catalogue reads, recommendations, nearline writes and reloads over one :class:`Store`."""

    def __init__(self, settings: Settings, store: Store, experiments: Any = None, metrics: ServiceMetrics | None = None):
        self.settings = settings
        self.store = store
        self.experiments = experiments  # online.experiments.ExperimentRegistry (or None)
        self.metrics = metrics or ServiceMetrics()
        self._catalog: Catalog | None = None
        self._reload_lock = threading.Lock()
        self.last_reload_error: str | None = None

    # --- versions ----------------------------------------------------------------------------------
    def reload(self) -> ReloadResult:
        """Load the store's ``current`` version if it differs from the live one, then swap atomically.

        A corrupted or partial version is refused (logged, counted) and the live one stays.
        """
        with self._reload_lock:
            live = self._catalog.version if self._catalog else None
            try:
                target = self.store.current_version()
            except Unavailable as exc:
                self.metrics.store_errors.labels("current_version").inc()
                return ReloadResult(live, False, str(exc), "unavailable")
            if target is None or target == live:
                return ReloadResult(live, False)
            try:
                catalog = Catalog(self.store.load_catalog(target), self.settings.tfserving_url)
                catalog.warm_up(self.settings.ann_index)
            except (BundleError, Unavailable, OSError, ValueError, KeyError) as exc:
                self.metrics.reloads.labels("refused").inc()
                self.last_reload_error = f"version {target} refused: {exc}"
                log.error("reload: %s; keeping %s", self.last_reload_error, live)
                return ReloadResult(live, False, self.last_reload_error, "refused")
            self._catalog = catalog  # the swap: one reference assignment
            self.last_reload_error = None
            self.metrics.reloads.labels("loaded").inc()
            self.metrics.set_version(catalog.version)
            if live is not None:
                self.store.forget_version(live)
            if self.settings.gc_freeze:
                settle_after_load()
            log.info("reload: now serving %s (was %s)", catalog.version, live)
            return ReloadResult(catalog.version, True)

    @property
    def _popularity_weight(self) -> float:
        return float(self.settings.rank_popularity_weight)

    def catalog(self) -> Catalog:
        """The live catalogue; :class:`NoBundle` (503) when none is loaded."""
        catalog = self._catalog
        if catalog is None:
            raise NoBundle("no bundle loaded yet; run `sparrow offline run` (and publish) first")
        return catalog

    def version(self) -> str | None:
        return self._catalog.version if self._catalog else None

    def ready(self) -> schemas.Ready:
        """A version loaded and the store reachable."""
        store_ok = self.store.ping()
        version = self.version()
        detail = None if store_ok else f"{self.store.kind} store unreachable"
        if version is None:
            detail = self.last_reload_error or "no bundle loaded"
        return schemas.Ready(ready=store_ok and version is not None, version=version, store=self.store.kind, detail=detail)

    # --- movies ------------------------------------------------------------------------------------
    def get_movie(self, movie_id: int) -> schemas.Movie:
        movie = self.catalog().movies.get(movie_id)
        if movie is None:
            raise NotFound(f"movie {movie_id} not found")
        return movie

    def list_movies(self, genre: str | None = None, sort: str = "popularity", page: int = 1, size: int = 20) -> schemas.MoviePage:
        cat = self.catalog()
        _check_size(size)
        if page < 1:
            raise InvalidParameter("page", "must be >= 1")
        if genre:
            if genre not in cat.by_genre:
                raise NotFound(f"genre {genre!r} not found")
            ids = list(cat.by_genre[genre])
        else:
            ids = list(cat.movies)
        key = {
            "rating": lambda i: (-cat.quality[i], i),
            "popularity": lambda i: (-cat.movies[i].ratingCount, i),
            "year": lambda i: (-(cat.movies[i].year or 0), i),
        }.get(sort)
        if key is None:
            raise InvalidParameter("sort", "must be one of rating, popularity, year")
        ids.sort(key=key)
        start = (page - 1) * size
        return schemas.MoviePage(items=[cat.movies[i] for i in ids[start : start + size]], page=page, size=size, total=len(ids))

    def genres(self) -> list[str]:
        return list(self.catalog().genres)

    def search(self, q: str, size: int = 20) -> list[schemas.Movie]:
        _check_size(size)
        if not q.strip():
            raise InvalidParameter("q", "must not be empty")
        return self.catalog().search_titles(q, size)

    def similar(self, movie_id: int, model: str = "item2vec", size: int = 20) -> schemas.SimilarResponse:
        """Similar movies from the bundle's similar list ``model`` (or its embedding / shared genres)."""
        cat = self.catalog()
        _check_size(size)
        self.get_movie(movie_id)
        pairs = _similar_pairs(cat, movie_id, model, size)
        items = [schemas.ScoredMovie(**cat.movies[m].model_dump(), score=round(s, 6)) for m, s in pairs]
        return schemas.SimilarResponse(movieId=movie_id, model=model, items=items)  # type: ignore[arg-type]

    # --- users -------------------------------------------------------------------------------------
    def _user_state(self, catalog: Catalog, user_id: int) -> UserState:
        """The user's state; with the store down, an empty state flagged ``degraded``."""
        try:
            return self.store.user_state(catalog.version, user_id, USER_EMBEDDINGS_READ)
        except Unavailable:
            self.metrics.store_errors.labels("user_state").inc()
            return UserState(user_id, degraded=True)

    def get_user(self, user_id: int) -> schemas.User:
        cat = self.catalog()
        state = self.store.user_state(cat.version, user_id, ())
        if state.snapshot is None and not state.rt_history:
            raise NotFound(f"user {user_id} not found")
        snapshot = state.snapshot or {}
        features = {f.name: snapshot[f.name] for f in USER_FEATURES if snapshot.get(f.name) is not None}
        features["userId"] = user_id
        for extra in ("highestRating", "lowestRating"):
            if snapshot.get(extra) is not None:
                features[extra] = snapshot[extra]
        history = [
            schemas.RatingEntry(
                movieId=int(e["movieId"]),
                title=cat.movies[int(e["movieId"])].title if int(e["movieId"]) in cat.movies else None,
                rating=float(e.get("rating") or 0.0),
                timestamp=int(e.get("timestamp") or 0),
            )
            for e in snapshot.get("recentRatings") or []
        ]
        return schemas.User(
            userId=user_id, known=state.snapshot is not None, features=features, history=history,
            realtimePositives=list(state.rt_history),
        )

    def sample_user_ids(self, n: int = 10) -> list[int]:
        cat = self.catalog()
        try:
            return self.store.sample_user_ids(cat.version, n)
        except Unavailable:
            self.metrics.store_errors.labels("sample_users").inc()
            return []

    # --- recommendations ---------------------------------------------------------------------------
    def recommend(self, user_id: int, size: int = 20, model: str | None = None, explain: bool = True) -> schemas.Recommendations:
        """Recall -> rank -> (interleave / explore) for a user; the response names variant and model."""
        cat = self.catalog()
        _check_size(size)
        assignment = self._assign(user_id)
        chosen = pipeline.choose_model(cat, model, assignment.model if assignment else None, self.settings.default_model)
        with self.metrics.timed("user_state"):
            state = self._user_state(cat, user_id)
        ann_index = (assignment.ann_index if assignment and assignment.ann_index else None) or self.settings.ann_index
        ctx = pipeline.build_context(cat, state, ann_index)
        quotas = effective_quotas(self.settings.recall_quotas, assignment.recall if assignment else None)
        with self.metrics.timed("recall"):
            candidates = pipeline.recall(ctx, quotas, self.settings.max_candidates, size, self.metrics, state.degraded)
        degraded = state.degraded
        with self.metrics.timed("rank"):
            try:
                ranked = pipeline.rank(cat, ctx, candidates, chosen, self._popularity_weight)
            except Exception:  # a ranker down (e.g. TF Serving) has a fallback: the recall order
                log.exception("ranking with %s failed; answering in recall order", chosen)
                self.metrics.store_errors.labels("rank").inc()
                chosen, degraded = pipeline.RECALL_SCORE, True
                ranked = pipeline.rank(cat, ctx, candidates, chosen, self._popularity_weight)
        by_id = {r.candidate.movie_id: r for r in ranked}
        ids = [r.candidate.movie_id for r in ranked[:size]]
        teams: dict[int, str] | None = None
        if assignment is not None and assignment.interleave_with and model is None:
            other = pipeline.choose_model(cat, None, assignment.interleave_with, self.settings.default_model)
            with self.metrics.timed("rank"):
                ranked_b = pipeline.rank(cat, ctx, candidates, other, self._popularity_weight)  # same candidates, second ranker
            from online.experiments.interleaving import team_draft

            ids, teams = team_draft(ids, [r.candidate.movie_id for r in ranked_b[:size]], size, random.Random())
            chosen = f"{chosen}+{other}"
        if self.experiments is not None and self.settings.exploration_share > 0:
            pool = [r.candidate.movie_id for r in ranked[size:]]
            ids = self.experiments.explore(ids, pool)
        # an explicit model= overrides the variant: that list is not the variant's, so it is not counted
        self._record_exposure(assignment if model is None else None, ids, teams)
        if degraded:
            self.metrics.degraded.inc()
        items = [self._rec_item(cat, by_id[m], explain) for m in ids if m in by_id]
        return schemas.Recommendations(
            userId=user_id,
            experiment=assignment.experiment if assignment else None,
            variant=assignment.variant if assignment else None,
            model=chosen,
            degraded=degraded,
            items=items,
        )

    def recommend_session(self, liked: list[int], size: int = 20) -> schemas.Recommendations:
        """Anonymous visitor: recall from the liked movies (item2item, embedding, genre), then rank."""
        cat = self.catalog()
        _check_size(size)
        known = [int(m) for m in dict.fromkeys(liked) if int(m) in cat.movies]
        if not known:
            raise InvalidParameter("liked", "none of the liked movieIds is in the catalogue")
        state = UserState(0, rt_history=known)
        ctx = pipeline.build_context(cat, state, self.settings.ann_index, positives=known)
        quotas = {k: v for k, v in self.settings.recall_quotas.items() if k not in ("als", "two_tower")}
        candidates = pipeline.recall(ctx, quotas, self.settings.max_candidates, size, self.metrics)
        chosen = pipeline.choose_model(cat, None, None, self.settings.default_model)
        ranked = pipeline.rank(cat, ctx, candidates, chosen, self._popularity_weight)[:size]
        return schemas.Recommendations(userId=None, model=chosen, items=[self._rec_item(cat, r, True) for r in ranked])

    def _assign(self, user_id: int) -> Any:
        if self.experiments is None:
            return None
        try:
            return self.experiments.assign(user_id)
        except Unavailable as exc:
            log.warning("experiment assignment skipped: %s", exc)
            return None

    def _record_exposure(self, assignment: Any, ids: list[int], teams: dict[int, str] | None) -> None:
        if self.experiments is None:
            return
        try:
            self.experiments.record_exposure(assignment, ids, teams=teams)
        except Unavailable as exc:  # counting must never fail the recommendation itself
            self.metrics.store_errors.labels("record_exposure").inc()
            log.warning("exposure not recorded: %s", exc)

    @staticmethod
    def _rec_item(cat: Catalog, ranked: pipeline.Ranked, explain: bool) -> schemas.RecItem:
        movie = cat.movies[ranked.candidate.movie_id]
        return schemas.RecItem(
            movieId=movie.movieId, title=movie.title, score=round(ranked.score, 6),
            channels=list(ranked.candidate.channels) if explain else [], year=movie.year, genres=movie.genres,
        )

    # --- nearline writes ---------------------------------------------------------------------------
    def add_rating(self, rating: schemas.RatingIn) -> schemas.Accepted:
        """Append the rating to the events stream/log and update the user's real-time state."""
        return self._write(rating_event(rating))

    def add_event(self, event: schemas.EventIn) -> schemas.Accepted:
        """Append a click/view; credit it to the experiment variant/team that showed the movie."""
        accepted = self._write(interaction_event(event))
        if self.experiments is not None:
            try:
                self.experiments.record_event(event.experiment, event.variant, event.movieId, event.type, user_id=event.userId)
            except Unavailable as exc:
                self.metrics.store_errors.labels("record_event").inc()
                log.warning("event %s stored but not counted: %s", accepted.id, exc)
        return accepted

    def _write(self, record: dict[str, Any]) -> schemas.Accepted:
        cat = self.catalog()
        movie_id, user_id = int(record["movieId"]), int(record["userId"])
        if movie_id not in cat.movies:
            raise NotFound(f"movie {movie_id} not found")
        positive = movie_id if is_positive(record) else None
        try:
            state = self.store.user_state(cat.version, user_id, ())
            rt = {}
            if positive is not None:
                offline = (state.snapshot or {}).get("recentPositives") or []
                rt = realtime_embeddings(cat, merged_positives(positive, state.rt_history, offline))
            event_id = self.store.append_event(record, positive, rt)
        except StoreUnavailable:
            self.metrics.store_errors.labels("append_event").inc()
            raise
        if record["type"] == "rating" and self.experiments is not None:
            try:
                self.experiments.record_event(None, None, movie_id, "rating", user_id=user_id)
            except Unavailable as exc:
                log.warning("rating %s stored but not counted: %s", event_id, exc)
        return schemas.Accepted(id=event_id)

    # --- report --------------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """The bundle's ``report/metrics.json`` ({} when the bundle has no report)."""
        report_dir = self.catalog().report_dir
        path = report_dir / "metrics.json" if report_dir is not None else None
        if path is None or not path.is_file():
            return {}
        return json.loads(path.read_text())

    def report_file(self, name: str) -> Path:
        """A PNG of the bundle's report directory (names only, no paths)."""
        report_dir = self.catalog().report_dir
        if report_dir is None or "/" in name or "\\" in name or name.startswith(".") or not name.endswith(".png"):
            raise NotFound(f"report file {name!r} not found")
        path = report_dir / name
        if not path.is_file():
            raise NotFound(f"report file {name!r} not found")
        return path


def _check_size(size: int) -> None:
    if not 1 <= size <= MAX_SIZE:
        raise InvalidParameter("size", f"must be between 1 and {MAX_SIZE}, got {size}")


def _similar_pairs(cat: Catalog, movie_id: int, model: str, size: int) -> list[tuple[int, float]]:
    lists = cat.similar.get(model)
    if lists:
        ids, scores = lists.get(movie_id, ([], []))
        return [(m, s) for m, s in zip(ids, scores, strict=False) if m in cat.movies and m != movie_id][:size]
    embedding = "als_item" if model == "als" else model
    if embedding in cat.embeddings and not is_user_embedding(embedding):
        vec = cat.vector(embedding, movie_id)
        if vec is None:
            return []
        ids, scores = cat.ann(embedding, "flat").search(vec, size + 1)
        return [(int(m), float(s)) for m, s in zip(ids, scores, strict=False) if int(m) != movie_id and int(m) in cat.movies][:size]
    if model == "genre":
        target = set(cat.movies[movie_id].genres)
        scored = [
            (m, len(target & set(mv.genres)) / max(len(target | set(mv.genres)), 1))
            for m, mv in cat.movies.items()
            if m != movie_id
        ]
        scored.sort(key=lambda p: (-p[1], -cat.quality[p[0]], p[0]))
        return [p for p in scored if p[1] > 0][:size]
    raise InvalidParameter("model", f"similar list {model!r} is not in bundle {cat.version}")


__all__ = ["FALLBACK_CHANNELS", "MAX_SIZE", "RecommenderService", "ReloadResult"]

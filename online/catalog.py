"""The in-memory snapshot of one bundle version: movies, feature columns, embeddings, similar lists, models.

A ``Catalog`` is immutable once built (its caches of FAISS indexes, rankers and two-tower item
vectors fill lazily under locks). The service swaps the whole catalogue with one reference
assignment, so a request that started on the old version finishes on it.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from online.ranking.ranker import RankerCache
from online.recall.ann import AnnIndex, build_index, normalise
from online.schemas import Movie
from online.store.base import CatalogData
from sparrow.bundle import ITEM_TOWER, MODELS_DIR, REPORT_DIR, TWO_TOWER_MODEL, USER_TOWER
from sparrow.feature_spec import MOVIE_TABLE_COLUMNS, movie_feature_arrays

log = logging.getLogger(__name__)

RATING_PRIOR_COUNT = 10  # damped mean: a movie needs ratings before its average dominates
USER_VECTOR_CACHE = 4096


def dense_lookup(ids: np.ndarray) -> np.ndarray:
    """``lookup[movieId]`` = the row of that movie in ``ids``, -1 where absent.

    MovieLens ids are dense enough (ML-25M: 62k movies below id 210k) that one int64 per possible
    id is a few MB at most, and it turns per-request dict lookups in Python loops into one gather.
    """
    ids = np.asarray(ids, dtype=np.int64)
    rows = np.flatnonzero(ids >= 0)  # ingestion quarantines negative ids; never let one wrap around
    lookup = np.full(int(ids[rows].max()) + 1 if len(rows) else 0, -1, dtype=np.int64)
    lookup[ids[rows]] = rows
    return lookup


def rows_in(lookup: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
    """Rows of ``movie_ids`` under ``lookup`` (:func:`dense_lookup`), in order, the absent ones left out."""
    ids = movie_ids[(movie_ids >= 0) & (movie_ids < len(lookup))]
    rows = lookup[ids]
    return rows[rows >= 0]


def row_at(lookup: np.ndarray, movie_id: int) -> int | None:
    """The row of one movie under ``lookup`` (:func:`dense_lookup`), None where absent."""
    if 0 <= movie_id < len(lookup) and (row := int(lookup[movie_id])) >= 0:
        return row
    return None


def _opt_int(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


def _opt_str(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _num(value: Any, default: float = 0.0) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return default
    return float(value)


class Catalog:
    """One version's catalogue, built from :class:`CatalogData`."""

    def __init__(self, data: CatalogData, tfserving_url: str | None = None) -> None:
        self.version = data.version
        self.manifest = data.manifest
        self.bundle_dir: Path | None = data.bundle_dir
        frame = data.movies.reset_index(drop=True)
        missing = [c for c in ("movieId", "title", "genres") if c not in frame.columns]
        if missing:
            raise ValueError(f"movies table lacks {missing}")
        self.movies: dict[int, Movie] = {}
        for row in frame.to_dict(orient="records"):
            movie = Movie(
                movieId=int(row["movieId"]),
                title=str(row["title"]),
                year=_opt_int(row.get("year")),
                genres=[str(g) for g in (row.get("genres") if row.get("genres") is not None else [])],
                avgRating=round(_num(row.get("avgRating")), 4),
                ratingCount=int(_num(row.get("ratingCount"))),
                ratingStddev=round(_num(row.get("ratingStddev")), 4),
                imdbId=_opt_str(row.get("imdbId")),
                tmdbId=_opt_str(row.get("tmdbId")),
            )
            self.movies[movie.movieId] = movie
        self.movie_ids = np.array([int(m) for m in frame["movieId"]], dtype=np.int64)
        self.row_lookup = dense_lookup(self.movie_ids)
        table = {c: frame[c].tolist() for c in MOVIE_TABLE_COLUMNS if c in frame.columns}
        for column in ("year", "avgRating", "ratingCount", "ratingStddev"):
            table.setdefault(column, [None] * len(frame))
        # model feature columns (movieGenre1.., movieAvgRating, ...) aligned with movie_ids
        self.feature_arrays = movie_feature_arrays(table)
        self._titles = [m.title.lower() for m in self.movies.values()]
        self._title_ids = list(self.movies)

        mean = float(np.mean([m.avgRating for m in self.movies.values()])) if self.movies else 0.0
        self.quality = {
            m.movieId: (RATING_PRIOR_COUNT * mean + m.ratingCount * m.avgRating) / (RATING_PRIOR_COUNT + m.ratingCount)
            for m in self.movies.values()
        }
        self.popular = sorted(self.movies, key=lambda i: (-self.movies[i].ratingCount, -self.quality[i], i))
        by_genre: dict[str, list[int]] = {}
        for movie in self.movies.values():
            for genre in movie.genres:
                by_genre.setdefault(genre, []).append(movie.movieId)
        self.by_genre = {g: sorted(ids, key=lambda i: (-self.quality[i], i)) for g, ids in by_genre.items()}
        self.genres = sorted(g for g in by_genre if g and g != "(no genres listed)")

        # item embeddings, row-normalised, restricted to no movie outside the catalogue
        self.embeddings: dict[str, tuple[np.ndarray, np.ndarray]] = {
            name: (np.asarray(ids, np.int64), normalise(mat))
            for name, (ids, mat) in data.item_embeddings.items()
            if len(ids) and mat.ndim == 2
        }
        # raw (unnormalised) matrices: ALS scores are dot products, where item norms matter
        self.raw_embeddings = {name: np.asarray(mat, np.float32) for name, (_, mat) in data.item_embeddings.items()}
        self.emb_lookup = {name: dense_lookup(ids) for name, (ids, _) in self.embeddings.items()}
        self.similar = data.similar
        self.model_names = sorted(self.manifest.get("models", {}))
        models_root = self.bundle_dir / MODELS_DIR if self.bundle_dir is not None else None
        if models_root is None or not models_root.is_dir():
            if self.model_names and not tfserving_url:
                log.warning("version %s lists models %s but has no model files", self.version, self.model_names)
                self.model_names = []
            models_root = None
        self.rankers = RankerCache(models_root, self.model_names, tfserving_url, self.version, self.feature_arrays)
        self._lock = threading.Lock()
        self._indexes: dict[tuple[str, str], AnnIndex] = {}
        self._two_tower: tuple[Any, np.ndarray, np.ndarray] | None | bool = False
        # user-tower vectors by the user's feature values: one SavedModel call costs ~7 ms, and a
        # user's features only change when they rate something (which changes the key)
        self._user_vectors: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()

    def warm_up(self, ann_index: str) -> None:
        """Load every model, the default ANN index and the two-tower vectors before the swap.

        Done in the reload thread so the first request on a new version pays nothing; a model
        that fails to load is dropped from this version (logged) instead of failing requests.
        """
        for name in list(self.model_names):
            try:
                self.rankers.get(name)
            except Exception:
                log.exception("version %s: model %s does not load; serving without it", self.version, name)
                self.model_names.remove(name)
        for name in self.embeddings:
            if name in ("item2vec", "deepwalk", "node2vec"):
                self.ann(name, ann_index)
                break
        self.two_tower()

    # --- look-ups ----------------------------------------------------------------------------------
    @property
    def report_dir(self) -> Path | None:
        return self.bundle_dir / REPORT_DIR if self.bundle_dir is not None else None

    def search_titles(self, query: str, limit: int) -> list[Movie]:
        """Case-insensitive title substring search, most-rated first."""
        q = query.lower().strip()
        hits = [i for i, t in enumerate(self._titles) if q in t]
        ids = self._title_ids
        hits.sort(key=lambda i: (not self._titles[i].startswith(q), -self.movies[ids[i]].ratingCount, ids[i]))
        return [self.movies[ids[i]] for i in hits[:limit]]

    def vector(self, embedding: str, movie_id: int) -> np.ndarray | None:
        lookup = self.emb_lookup.get(embedding)
        row = None if lookup is None else row_at(lookup, movie_id)
        return None if row is None else self.embeddings[embedding][1][row]

    def mean_vector(self, embedding: str, movie_ids: list[int]) -> np.ndarray | None:
        """Mean of the (normalised) vectors of ``movie_ids`` that have one; None if none do."""
        vectors = [v for m in movie_ids if (v := self.vector(embedding, m)) is not None]
        return np.mean(vectors, axis=0).astype(np.float32) if vectors else None

    def rows(self, movie_ids: list[int]) -> np.ndarray:
        """Catalogue rows of ``movie_ids`` (in that order); KeyError for a movie not in the catalogue."""
        rows = rows_in(self.row_lookup, np.asarray(movie_ids, dtype=np.int64))
        if len(rows) != len(movie_ids):
            missing = sorted({m for m in movie_ids if row_at(self.row_lookup, m) is None})
            raise KeyError(f"movies not in catalogue {self.version}: {missing[:5]}")
        return rows

    def movie_columns(self, movie_ids: list[int]) -> dict[str, np.ndarray]:
        """Model movie features of ``movie_ids`` (in that order)."""
        rows = self.rows(movie_ids)
        return {name: column[rows] for name, column in self.feature_arrays.items()}

    # --- lazily built, once per version --------------------------------------------------------
    def ann(self, embedding: str, kind: str) -> AnnIndex:
        """The FAISS index of ``embedding`` of this kind (built on first use, then shared)."""
        key = (embedding, kind)
        with self._lock:
            index = self._indexes.get(key)
            if index is None:
                ids, mat = self.embeddings[embedding]
                index = build_index(ids, mat, kind)
                self._indexes[key] = index
            return index

    def two_tower(self) -> tuple[Any, np.ndarray, np.ndarray] | None:
        """``(user tower ranker, item ids, item vectors)`` when the bundle exported NeuralCF's towers."""
        with self._lock:
            if self._two_tower is False:
                self._two_tower = self._load_two_tower()
            return self._two_tower  # type: ignore[return-value]

    def user_tower_vector(self, user_features: Mapping[str, Any]) -> np.ndarray | None:
        """The NeuralCF user-tower vector of these user features (LRU-cached per version), or None."""
        towers = self.two_tower()
        if towers is None:
            return None
        key = tuple(sorted(user_features.items()))
        with self._lock:
            cached = self._user_vectors.get(key)
            if cached is not None:
                self._user_vectors.move_to_end(key)
                return cached
        user_tower = towers[0]
        # one row: the user tower reads user features only (the packed path makes this ~1 ms, not ~7)
        vec = user_tower.score_rows(user_features, np.zeros(1, np.int64), self.feature_arrays).reshape(-1)
        with self._lock:
            self._user_vectors[key] = vec
            if len(self._user_vectors) > USER_VECTOR_CACHE:
                self._user_vectors.popitem(last=False)
        return vec

    def _load_two_tower(self) -> tuple[Any, np.ndarray, np.ndarray] | None:
        if TWO_TOWER_MODEL not in self.model_names or self.rankers.models_root is None:
            return None
        base = self.rankers.models_root / TWO_TOWER_MODEL
        if not (base / USER_TOWER).is_dir() or not (base / ITEM_TOWER).is_dir():
            log.info("two_tower model of %s has no exported %s/%s; channel off", self.version, USER_TOWER, ITEM_TOWER)
            return None
        from online.ranking.ranker import SavedModelRanker
        from sparrow.feature_spec import serving_batch

        try:
            user_tower = SavedModelRanker(USER_TOWER, base / USER_TOWER, self.feature_arrays)
            item_tower = SavedModelRanker(ITEM_TOWER, base / ITEM_TOWER)
            ids = [int(m) for m in self.movie_ids]
            batch = serving_batch({}, self.movie_columns(ids))
            vectors = item_tower._fn(**item_tower.inputs(batch))[item_tower._output].numpy()
            return user_tower, self.movie_ids, np.asarray(vectors, np.float32).reshape(len(ids), -1)
        except Exception:  # a broken optional channel must not take the version down
            log.exception("could not load the two_tower towers of %s", self.version)
            return None

"""Recall channels: named units, each returning its best ``(movieId, score)`` list for one user.

Every channel reads only the catalogue snapshot and the request's :class:`RecallContext`, so it
is deterministic and testable; the service runs the channels whose quota is positive and
:func:`online.recall.merge.merge_channels` combines them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from itertools import islice
from typing import Any

import numpy as np

from online.catalog import Catalog, rows_in
from online.ranking.blend import blended_order
from online.store.base import UserState
from sparrow.bundle import GENRE_LIST, ITEMCF_LIST, TWO_TOWER_USER, user_embedding_name
from sparrow.feature_spec import USER_GENRES

log = logging.getLogger(__name__)

# Which embedding / similar list a channel uses, in order of preference.
ANN_EMBEDDINGS = ("item2vec", "deepwalk", "node2vec")
# itemcf (co-occurrence cosine over training positives) first: ItemKNN is the strongest baseline on
# the temporal split (docs/benchmarks.md, "Top-N quality"); embedding lists serve older bundles
SIMILAR_PREFERENCE = (ITEMCF_LIST, "item2vec", "deepwalk", "node2vec", "als", GENRE_LIST)
ALS_ITEM, ALS_USER = "als_item", "als_user"
ITEM2ITEM_SEEDS = 10  # recent positives whose similar lists are merged


@dataclass
class RecallContext:
    """What the channels know about the request."""

    catalog: Catalog
    user: UserState
    positives: list[int]  # newest first: nearline history, then offline recent positives
    exclude: set[int]  # already seen: every offline rating + nearline history
    ann_index: str = "hnsw"
    user_features: dict[str, Any] = field(default_factory=dict)
    # seen lately (recent offline ratings + nearline history): never shown, even to fill a short list
    recent: set[int] = field(default_factory=set)

    @cached_property
    def exclude_ids(self) -> np.ndarray:
        """``exclude`` as an int64 array, built once per request for the channels that mask rows."""
        return np.fromiter(self.exclude, dtype=np.int64, count=len(self.exclude))

    def excluded_rows(self, lookup: np.ndarray) -> np.ndarray:
        """Rows, in an index whose row of a movie is ``lookup[movieId]`` (:func:`online.catalog.dense_lookup`),
        of the movies not to recall.

        Channels that score a whole matrix mask these rows before their top-k (and the ANN channel
        hands them to FAISS), so they return ``k`` unseen movies instead of over-fetching
        ``k + |seen|`` for the merge to filter.
        """
        return rows_in(lookup, self.exclude_ids)


Channel = Callable[[RecallContext, int], list[tuple[int, float]]]


def ann_embedding(catalog: Catalog) -> str | None:
    """The item embedding the ANN channel searches (first present of item2vec, deepwalk, node2vec)."""
    return next((n for n in ANN_EMBEDDINGS if n in catalog.embeddings), None)


def user_vector(ctx: RecallContext, embedding: str) -> np.ndarray | None:
    """Real-time vector (nearline) > offline user embedding > mean of the positives' vectors."""
    if embedding in ctx.user.rt_embeddings and ctx.user.rt_embeddings[embedding].size:
        return ctx.user.rt_embeddings[embedding]
    offline = ctx.user.embeddings.get(user_embedding_name(embedding))
    if offline is not None and offline.size:
        return offline
    return ctx.catalog.mean_vector(embedding, ctx.positives)


def embedding_channel(ctx: RecallContext, k: int) -> list[tuple[int, float]]:
    """User-embedding ANN over item embeddings with the configured FAISS index."""
    name = ann_embedding(ctx.catalog)
    if name is None:
        return []
    vec = user_vector(ctx, name)
    if vec is None:
        return []
    index = ctx.catalog.ann(name, ctx.ann_index)
    ids, scores = index.search(vec, k, ctx.excluded_rows(ctx.catalog.emb_lookup[name]))
    return _pairs(ids, scores)


def item2item_channel(ctx: RecallContext, k: int) -> list[tuple[int, float]]:
    """Similar lists of the user's recent positives, newer seeds weighing more."""
    name = next((n for n in SIMILAR_PREFERENCE if ctx.catalog.similar.get(n)), None)
    if name is None:
        return []
    lists = ctx.catalog.similar[name]
    seeds = [lists.get(seed, ([], [])) for seed in ctx.positives[:ITEM2ITEM_SEEDS]]
    lengths = [len(ids) for ids, _ in seeds]
    if not sum(lengths):
        return []
    ids = np.fromiter((m for seed_ids, _ in seeds for m in seed_ids), dtype=np.int64, count=sum(lengths))
    sims = np.fromiter((x for _, seed_sims in seeds for x in seed_sims), dtype=np.float64, count=sum(lengths))
    weighted = np.repeat(1.0 / (1 + np.arange(len(seeds))), lengths) * sims
    keep = ~np.isin(ids, ctx.exclude_ids)
    movies, inverse = np.unique(ids[keep], return_inverse=True)
    # summed in seed order, as adding seed by seed would; best first, ties by movieId
    scores = np.bincount(inverse, weights=weighted[keep])
    top = blended_order(movies, scores)[:k]
    return _pairs(movies[top], scores[top])


def als_channel(ctx: RecallContext, k: int) -> list[tuple[int, float]]:
    """ALS factors: the user's factor vector dotted with every item factor."""
    if ALS_ITEM not in ctx.catalog.embeddings:
        return []
    ids, _ = ctx.catalog.embeddings[ALS_ITEM]
    raw = ctx.catalog.raw_embeddings[ALS_ITEM]
    vec = ctx.user.embeddings.get(ALS_USER)
    if vec is None or vec.shape[-1] != raw.shape[1]:
        # nearline-only users have no factors yet: fold in the positives' item factors
        rows = rows_in(ctx.catalog.emb_lookup[ALS_ITEM], np.asarray(ctx.positives, dtype=np.int64))
        if not len(rows):
            return []
        vec = raw[rows].mean(axis=0)
    return _top_dot(ids, raw, vec, k, ctx.excluded_rows(ctx.catalog.emb_lookup[ALS_ITEM]))


def two_tower_channel(ctx: RecallContext, k: int) -> list[tuple[int, float]]:
    """NeuralCF two-tower: the exported user tower's vector against item-tower vectors."""
    towers = ctx.catalog.two_tower()
    if towers is None:
        return []
    _, ids, item_vectors = towers
    # the models step stored the tower's vector of the offline snapshot; nearline ratings change the
    # user's features (recent movies), and then only the tower itself knows the vector
    vec = None if ctx.user.rt_history else ctx.user.embeddings.get(TWO_TOWER_USER)
    if vec is None:
        vec = ctx.catalog.user_tower_vector(ctx.user_features)
    if vec is None or vec.shape[0] != item_vectors.shape[1]:
        return []
    return _top_dot(ids, item_vectors, vec, k, ctx.excluded_rows(ctx.catalog.row_lookup))


def top_genres(ctx: RecallContext, n: int = 3) -> list[str]:
    """The user's top genres: offline userGenre1..5, else the genres of the positives."""
    genres = [g for f in USER_GENRES if (g := ctx.user_features.get(f.name))]
    if not genres:
        counts: dict[str, int] = {}
        for movie_id in ctx.positives:
            movie = ctx.catalog.movies.get(movie_id)
            for genre in movie.genres if movie else []:
                counts[genre] = counts.get(genre, 0) + 1
        genres = sorted(counts, key=lambda g: (-counts[g], g))
    return [g for g in genres if g in ctx.catalog.by_genre][:n]


def genre_channel(ctx: RecallContext, k: int) -> list[tuple[int, float]]:
    """Best-rated unseen movies of the user's top genres, interleaved round-robin."""
    lists = [ctx.catalog.by_genre[g] for g in top_genres(ctx)]
    out: list[tuple[int, float]] = []
    seen = set(ctx.exclude)  # a copy: movies taken here join it
    for depth in range(max((len(x) for x in lists), default=0)):
        for lst in lists:
            if depth < len(lst) and lst[depth] not in seen:
                seen.add(lst[depth])
                out.append((lst[depth], ctx.catalog.quality[lst[depth]]))
        if len(out) >= k:
            break
    return out[:k]


def popular_channel(ctx: RecallContext, k: int) -> list[tuple[int, float]]:
    """Most-rated unseen movies: the cold-start channel and the fallback when a store is down."""
    movies, exclude = ctx.catalog.movies, ctx.exclude
    unseen = (m for m in ctx.catalog.popular if m not in exclude)
    return [(m, float(movies[m].ratingCount)) for m in islice(unseen, k)]


def _top_dot(ids: np.ndarray, matrix: np.ndarray, vec: np.ndarray, k: int, excluded: np.ndarray) -> list[tuple[int, float]]:
    """The ``k`` rows of ``matrix`` with the largest dot product with ``vec``, ``excluded`` rows never."""
    scores = matrix @ np.asarray(vec, np.float32)
    k = min(k, len(scores) - len(excluded))
    if k <= 0:
        return []
    if len(excluded):
        scores[excluded] = -np.inf
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top])]
    return _pairs(ids[top], scores[top])


def _pairs(ids: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
    # tolist() converts whole arrays at C speed; int()/float() per numpy scalar cost ~1 ms a request
    # here, as over-fetching for the seen filter makes these lists k + (movies the user rated) long
    return list(zip(ids.tolist(), scores.tolist(), strict=True))


CHANNELS: dict[str, Channel] = {
    "embedding": embedding_channel,
    "item2item": item2item_channel,
    "als": als_channel,
    "two_tower": two_tower_channel,
    "genre": genre_channel,
    "popular": popular_channel,
}
# Channels that need nothing from the store: what answers when Redis is down.
FALLBACK_CHANNELS = ("genre", "popular")

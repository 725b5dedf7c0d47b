"""One recommendation request, stage by stage: user context -> recall -> rank.

Functions over a catalogue snapshot and a user's state; the service adds experiments, metrics
and the response shape. Ranking calls the model once per request on the whole candidate batch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice

import numpy as np

from online.catalog import Catalog
from online.errors import InvalidParameter
from online.metrics import ServiceMetrics
from online.ranking.blend import blend_scores, blended_order
from online.recall.channels import ANN_EMBEDDINGS, CHANNELS, FALLBACK_CHANNELS, RecallContext, user_vector
from online.recall.merge import Candidate, contributions, merge_channels
from online.store.base import UserState
from sparrow.feature_spec import user_features_from_history

log = logging.getLogger(__name__)

RECALL_SCORE = "recall_score"  # the "model" reported when candidates keep their fused recall order


@dataclass(slots=True)
class Ranked:
    candidate: Candidate
    score: float


def positives_of(state: UserState) -> list[int]:
    """Newest first: nearline history, then the offline recent positives."""
    offline = (state.snapshot or {}).get("recentPositives") or []
    out: list[int] = []
    for movie_id in [*state.rt_history, *offline]:
        if int(movie_id) not in out:
            out.append(int(movie_id))
    return out


def recently_seen(state: UserState) -> set[int]:
    """Movies the user met lately: offline recent ratings and positives, plus the nearline history."""
    snapshot = state.snapshot or {}
    seen = {int(m) for m in snapshot.get("recentPositives") or []}
    for entry in snapshot.get("recentRatings") or []:
        if isinstance(entry, Mapping) and entry.get("movieId") is not None:
            seen.add(int(entry["movieId"]))
    seen.update(int(m) for m in state.rt_history)
    return seen


def rated_offline(state: UserState) -> set[int]:
    """Every movie the offline snapshot says the user rated (``ratedMovies``; absent in older bundles)."""
    return {int(m) for m in (state.snapshot or {}).get("ratedMovies") or []}


def seen_of(state: UserState) -> set[int]:
    """Every already-seen movie: all the user's offline ratings and the recent ones."""
    return recently_seen(state) | rated_offline(state)


def build_context(catalog: Catalog, state: UserState, ann_index: str, positives: list[int] | None = None) -> RecallContext:
    pos = positives if positives is not None else positives_of(state)
    features = user_features_from_history(state.user_id, state.snapshot, realtime_positives=state.rt_history)
    recent = recently_seen(state) | set(positives or [])
    return RecallContext(catalog, state, pos, recent | rated_offline(state), ann_index, features, recent=recent)


def _top_up(ctx: RecallContext, have: set[int], need: int) -> list[int]:
    """Popular movies to fill a short list: unseen first; then, for a user who has rated nearly the whole
    catalogue, movies rated long ago (never the recent ones), so a page is never short."""
    unseen = (m for m in ctx.catalog.popular if m not in have and m not in ctx.exclude)
    extra = list(islice(unseen, need))
    if len(extra) < need:
        rewatch = (m for m in ctx.catalog.popular if m in ctx.exclude and m not in have and m not in ctx.recent)
        extra += islice(rewatch, need - len(extra))
    return extra


def recall(
    ctx: RecallContext,
    quotas: Mapping[str, int],
    max_candidates: int,
    min_candidates: int,
    metrics: ServiceMetrics | None = None,
    fallback_only: bool = False,
) -> list[Candidate]:
    """Run every channel with a positive quota, merge, and top up from popular to ``min_candidates``."""
    results: dict[str, list[tuple[int, float]]] = {}
    for name, fn in CHANNELS.items():
        quota = quotas.get(name, 0)
        if quota <= 0 or (fallback_only and name not in FALLBACK_CHANNELS):
            continue
        try:
            items = fn(ctx, quota)
        except Exception:  # one broken channel must not fail the request; the others still answer
            log.exception("recall channel %s failed", name)
            items = []
        results[name] = items
    candidates = merge_channels(results, quotas, ctx.exclude, max_candidates, allowed=ctx.catalog.movies)
    if len(candidates) < min_candidates:
        # cold start with tiny quotas, or a user who has seen almost everything
        extra = _top_up(ctx, {c.movie_id for c in candidates}, min_candidates - len(candidates))
        floor = min((c.score for c in candidates), default=1.0)
        candidates += [Candidate(m, floor * 0.5 / (1 + i), ["popular"]) for i, m in enumerate(extra)]
    if metrics is not None:
        for channel, n in contributions(candidates).items():
            metrics.channel_items.labels(channel).inc(n)
    return candidates


def available_models(catalog: Catalog) -> list[str]:
    """What ``model=`` may name: the bundle's ranking models and its ANN item embeddings."""
    return [*catalog.model_names, *(n for n in ANN_EMBEDDINGS if n in catalog.embeddings)]


def choose_model(catalog: Catalog, requested: str | None, variant_model: str | None, default: str) -> str:
    """Explicit request > experiment variant > configured default > first model > recall order.

    An explicit unknown name is a 422; a variant/default naming a model this bundle lacks falls
    back (logged) rather than failing the request.
    """
    options = available_models(catalog)
    if requested is not None:
        if requested not in options and requested != RECALL_SCORE:
            raise InvalidParameter("model", f"unknown model {requested!r}; available: {', '.join(options) or 'none'}")
        return requested
    for name in (variant_model, default):
        if name and name in options:
            return name
        if name and name == variant_model:
            log.warning("variant model %s is not in bundle %s; using the default", name, catalog.version)
    return catalog.model_names[0] if catalog.model_names else RECALL_SCORE


def rank(
    catalog: Catalog, ctx: RecallContext, candidates: list[Candidate], model: str, popularity_weight: float = 0.0
) -> list[Ranked]:
    """Score every candidate in one batched call and sort (best first).

    ``popularity_weight`` (``SPARROW_RANK_POPULARITY_WEIGHT``) blends a ranking model's probability with
    a popularity prior (:mod:`online.ranking.blend`); the recall order and embedding scores are never blended.
    """
    if not candidates:
        return []
    ids = [c.movie_id for c in candidates]
    if model == RECALL_SCORE:
        scores = np.array([c.score for c in candidates], dtype=np.float32)
    elif model in ANN_EMBEDDINGS and model not in catalog.model_names:
        # SparrowRecSys's "emb" mode: cosine of the user vector and each candidate's item vector
        vec = user_vector(ctx, model)
        scores = np.array(
            [float(v @ vec) if vec is not None and (v := catalog.vector(model, m)) is not None else -1.0 for m in ids],
            dtype=np.float32,
        )
    else:
        scores = catalog.rankers.get(model).score_rows(ctx.user_features, catalog.rows(ids), catalog.feature_arrays)
    if popularity_weight and model in catalog.model_names and catalog.popular:
        # a ranking model's P(positive | rated) x a popularity prior ~ P(rated)
        popularity = [catalog.movies[m].ratingCount for m in ids]
        reference = catalog.movies[catalog.popular[0]].ratingCount
        scores = blend_scores(scores, popularity, popularity_weight, reference)
    order = blended_order(ids, scores)
    values = scores.tolist()  # Python floats in one call; float(scores[i]) per candidate was ~0.5 ms
    return [Ranked(candidates[i], values[i]) for i in order]

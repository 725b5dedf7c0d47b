"""Nearline updates: turn a rating/click into an event record and the user's new real-time vectors.

Pure functions; the service reads the user's state, calls these, and hands the result to the
store, which appends the event durably and updates the real-time history/embeddings together.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from online.catalog import Catalog
from online.schemas import EventIn, RatingIn
from sparrow.feature_spec import POSITIVE_RATING

RT_EMBEDDING_SEEDS = 20  # newest positives averaged into the real-time user vector
POSITIVE_EVENT_TYPES = ("click",)


def rating_event(rating: RatingIn, now: float | None = None) -> dict[str, Any]:
    """The stream record of a rating (same fields as MovieLens ratings.csv, plus the type)."""
    ts = rating.timestamp if rating.timestamp is not None else int(now if now is not None else time.time())
    return {"type": "rating", "userId": rating.userId, "movieId": rating.movieId, "rating": rating.rating, "timestamp": ts}


def interaction_event(event: EventIn, now: float | None = None) -> dict[str, Any]:
    """The stream record of a click/view (experiment and variant kept for attribution)."""
    return {
        "type": event.type,
        "userId": event.userId,
        "movieId": event.movieId,
        "timestamp": int(now if now is not None else time.time()),
        "experiment": event.experiment,
        "variant": event.variant,
    }


def is_positive(record: dict[str, Any]) -> bool:
    """Ratings >= 3.5 (the offline label) and clicks move the user's real-time taste."""
    if record["type"] == "rating":
        return float(record["rating"]) >= POSITIVE_RATING
    return record["type"] in POSITIVE_EVENT_TYPES


def merged_positives(new_movie: int | None, rt_history: Sequence[int], offline: Sequence[int]) -> list[int]:
    """Newest first, de-duplicated: the new positive, the nearline history, then offline positives."""
    out: list[int] = []
    for movie_id in ([new_movie] if new_movie is not None else []) + list(rt_history) + list(offline):
        if movie_id not in out:
            out.append(int(movie_id))
    return out


def realtime_embeddings(catalog: Catalog, positives: Sequence[int]) -> dict[str, np.ndarray]:
    """For each item embedding, the mean normalised vector of the newest positives that have one."""
    seeds = list(positives[:RT_EMBEDDING_SEEDS])
    out: dict[str, np.ndarray] = {}
    for name in catalog.embeddings:
        vec = catalog.mean_vector(name, seeds)
        if vec is not None:
            out[name] = vec
    return out

"""The store interface: what the service needs from Redis or from bundle files, and nothing more.

Catalogue-wide data (movies, item embeddings, similar lists) is loaded once per version into a
:class:`CatalogData`; per-user data (offline features, user embeddings, nearline history) is read
per request in one round trip as a :class:`UserState`. Writes are nearline events.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class CatalogData:
    """Everything of one version that is held in memory: the raw material of a ``Catalog``."""

    version: str
    manifest: dict[str, Any]
    movies: pd.DataFrame
    # item embedding name -> (ids int64[n], matrix float32[n, d])
    item_embeddings: dict[str, tuple[np.ndarray, np.ndarray]]
    # similar-list name -> {movieId: (similar ids, scores)}
    similar: dict[str, dict[int, tuple[list[int], list[float]]]]
    # where the SavedModels and the report of this version live (bundle files, also for RedisStore)
    bundle_dir: Path | None


@dataclass
class UserState:
    """One user's data for one request; ``snapshot`` is None for a user unknown offline (cold start)."""

    user_id: int
    snapshot: dict[str, Any] | None = None
    # user embedding name (e.g. user_item2vec, als_user) -> vector
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    # nearline positives, newest first
    rt_history: list[int] = field(default_factory=list)
    # item embedding name -> real-time user vector (mean of recent positives' vectors)
    rt_embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    degraded: bool = False


class Store(ABC):
    """One interface, two implementations (``FileStore``, ``RedisStore``); pick with :func:`open_store`."""

    kind: str = "base"

    @abstractmethod
    def current_version(self) -> str | None:
        """The version the store says is live now (None when nothing was published)."""

    @abstractmethod
    def load_catalog(self, version: str) -> CatalogData:
        """Load the catalogue of ``version``; raises ``BundleError``/``StoreUnavailable`` when it cannot."""

    @abstractmethod
    def user_state(self, version: str, user_id: int, user_embeddings: Sequence[str]) -> UserState:
        """Offline features, the named user embeddings and nearline state of a user, in one round trip."""

    @abstractmethod
    def sample_user_ids(self, version: str, n: int) -> list[int]:
        """Up to ``n`` known user ids (for demos and the web UI)."""

    @abstractmethod
    def append_event(
        self,
        event: Mapping[str, Any],
        positive_movie_id: int | None,
        rt_embeddings: Mapping[str, np.ndarray],
    ) -> str:
        """Append ``event`` durably and update the user's nearline state; return the event id.

        ``positive_movie_id`` is pushed on the user's real-time history (capped, newest first)
        and ``rt_embeddings`` replace the user's real-time vectors. Raises ``StoreUnavailable``.
        """

    @abstractmethod
    def ping(self) -> bool:
        """True when the store answers now."""

    def forget_version(self, version: str) -> None:  # noqa: B027 - optional hook
        """Drop per-version caches of an old version (after a swap)."""

    def cache_info(self) -> dict[str, int]:
        """``hits``/``misses``/``size`` of a per-user cache, for /metrics; empty when the store has none."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def users_by_id(users: pd.DataFrame) -> dict[int, dict[str, Any]]:
    """users.parquet rows keyed by userId, lists turned into Python lists."""
    records = users.to_dict(orient="records")
    out: dict[int, dict[str, Any]] = {}
    for row in records:
        clean = {k: _plain(v) for k, v in row.items()}
        out[int(clean["userId"])] = clean
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value

"""FileStore: the embedded store over bundle files (no Redis needed).

Catalogue and users come from ``<artifacts>/<version>/`` (checksums verified by
``sparrow.bundle.open_bundle``); nearline events are appended to ``<artifacts>/events.jsonl``
and the real-time history/embeddings live in this process's memory.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from online.store.base import CatalogData, Store, UserState, users_by_id
from online.store.tables import read_embedding_table, read_similar_table
from sparrow.bundle import EVENTS_FILE, is_user_embedding, open_bundle, read_current
from sparrow.redis_keys import RT_HISTORY_MAX

log = logging.getLogger(__name__)


class FileStore(Store):
    """Reads bundles under ``artifacts``; keeps users and user embeddings of loaded versions in memory."""

    kind = "file"

    def __init__(self, artifacts: Path) -> None:
        self.artifacts = Path(artifacts)
        self._lock = threading.Lock()
        self._users: dict[str, dict[int, dict[str, Any]]] = {}
        self._user_emb: dict[str, dict[str, dict[int, np.ndarray]]] = {}
        self._rt_history: dict[int, list[int]] = {}
        self._rt_emb: dict[int, dict[str, np.ndarray]] = {}

    @property
    def events_path(self) -> Path:
        return self.artifacts / EVENTS_FILE

    def current_version(self) -> str | None:
        return read_current(self.artifacts)

    def load_catalog(self, version: str) -> CatalogData:
        bundle = open_bundle(self.artifacts, version, verify=True)
        movies = pd.read_parquet(bundle.movies_path)
        item_embeddings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        user_embeddings: dict[str, dict[int, np.ndarray]] = {}
        for name in bundle.embeddings():
            ids, matrix = read_embedding_table(bundle.embedding_path(name))
            if is_user_embedding(name):
                user_embeddings[name] = {int(i): matrix[row] for row, i in enumerate(ids)}
            else:
                item_embeddings[name] = (ids, matrix)
        similar = {name: read_similar_table(bundle.similar_path(name)) for name in bundle.similar_lists()}
        users = users_by_id(pd.read_parquet(bundle.users_path)) if bundle.users_path.is_file() else {}
        with self._lock:
            self._users[version] = users
            self._user_emb[version] = user_embeddings
        return CatalogData(
            version=bundle.version,
            manifest=bundle.manifest,
            movies=movies,
            item_embeddings=item_embeddings,
            similar=similar,
            bundle_dir=bundle.path,
        )

    def forget_version(self, version: str) -> None:
        with self._lock:
            self._users.pop(version, None)
            self._user_emb.pop(version, None)

    def user_state(self, version: str, user_id: int, user_embeddings: Sequence[str]) -> UserState:
        with self._lock:
            snapshot = self._users.get(version, {}).get(user_id)
            embs = self._user_emb.get(version, {})
            vectors = {name: embs[name][user_id] for name in user_embeddings if user_id in embs.get(name, {})}
            history = list(self._rt_history.get(user_id, ()))
            rt_emb = dict(self._rt_emb.get(user_id, {}))
        return UserState(user_id, snapshot, vectors, history, rt_emb)

    def sample_user_ids(self, version: str, n: int) -> list[int]:
        with self._lock:
            return sorted(self._users.get(version, {}))[:n]

    def append_event(
        self,
        event: Mapping[str, Any],
        positive_movie_id: int | None,
        rt_embeddings: Mapping[str, np.ndarray],
    ) -> str:
        event_id = f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}"
        line = json.dumps({"id": event_id, **event}, separators=(",", ":")) + "\n"
        user_id = int(event["userId"])
        with self._lock:
            # durable first: the append is what the next offline run ingests
            self.artifacts.mkdir(parents=True, exist_ok=True)
            with open(self.events_path, "a", encoding="utf-8") as fh:
                fh.write(line)
            if positive_movie_id is not None:
                history = [m for m in self._rt_history.get(user_id, []) if m != positive_movie_id]
                self._rt_history[user_id] = [positive_movie_id, *history][:RT_HISTORY_MAX]
            if rt_embeddings:
                self._rt_emb.setdefault(user_id, {}).update(rt_embeddings)
        return event_id

    def ping(self) -> bool:
        return True

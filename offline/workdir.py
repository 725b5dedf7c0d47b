"""Layout of the offline work directory: the Parquet each step writes and the next one reads.

Steps run in one process (``sparrow offline run``) or one command at a time
(``sparrow offline ingest`` .. ``bundle``); either way they meet only through these paths.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class WorkDir:
    """Paths under the work directory (default ``<artifacts>/work``)."""

    root: Path

    # ingest
    @property
    def movies(self) -> Path:
        return self.root / "ingest" / "movies"

    @property
    def ratings(self) -> Path:
        return self.root / "ingest" / "ratings"

    @property
    def quarantine(self) -> Path:
        return self.root / "ingest" / "quarantine"

    # features
    @property
    def samples(self) -> Path:
        return self.root / "features" / "samples"

    @property
    def movie_table(self) -> Path:
        return self.root / "features" / "movies"

    @property
    def users(self) -> Path:
        return self.root / "features" / "users"

    # split
    @property
    def train(self) -> Path:
        return self.root / "split" / "train"

    @property
    def test(self) -> Path:
        return self.root / "split" / "test"

    # embeddings, similar lists, models
    def embedding(self, name: str) -> Path:
        return self.root / "embeddings" / name

    def similar(self, name: str) -> Path:
        return self.root / "similar" / name

    @property
    def models_stage(self) -> Path:
        """A bundle-shaped directory (``models/``, ``report/``) the models step trains into."""
        return self.root / "models"

    def summary(self, step: str) -> Path:
        """What a step tells later steps and the manifest (JSON)."""
        return self.root / f"{step}.json"

    def read_summary(self, step: str) -> dict[str, Any]:
        path = self.summary(step)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `sparrow offline {step}` first")
        return dict(json.loads(path.read_text()))

    def write_summary(self, step: str, data: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.summary(step).with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
        tmp.replace(self.summary(step))

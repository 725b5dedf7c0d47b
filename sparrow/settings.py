"""All runtime configuration in one place (environment variables prefixed ``SPARROW_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

AnnIndexKind = Literal["flat", "hnsw", "lsh"]

DEFAULT_RECALL_QUOTAS: dict[str, int] = {
    "embedding": 150,  # user-embedding ANN over item embeddings (FAISS)
    "item2item": 150,  # similar lists of the user's recent positives
    "als": 100,
    "two_tower": 100,  # NeuralCF user tower, when that model is in the bundle
    "genre": 60,
    "popular": 60,  # also the cold-start channel
}


class Settings(BaseSettings):
    """Settings for every command and the service; each field is ``SPARROW_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="SPARROW_", extra="ignore", env_file=None)

    # --- locations -------------------------------------------------------------------------------
    data_dir: Path = Path("data/ml-latest-small")
    artifacts: Path = Path("artifacts")
    # intermediate Parquet written by the offline steps (samples, splits, raw embeddings)
    work_dir: Path | None = None

    # --- offline / Spark -------------------------------------------------------------------------
    spark_master: str = Field(
        default="local[*]", validation_alias=AliasChoices("SPARROW_SPARK_MASTER", "SPARK_MASTER")
    )
    spark_driver_memory: str = "4g"
    spark_shuffle_partitions: int = 8

    # --- stores ----------------------------------------------------------------------------------
    redis_url: str | None = None
    redis_prefix: str = "sparrow:"
    # a dead Redis must never hang a request: every socket operation is bounded
    redis_timeout_s: float = 0.5
    redis_keep_versions: int = 2
    # users whose versioned offline state (feature hash + user embeddings, immutable once published)
    # RedisStore keeps in process, least recently used first out; 0 turns the cache off. Nearline
    # state (rt:*) is still read on every request
    user_cache_size: int = Field(default=4096, ge=0)

    # --- online service --------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    # uvicorn worker processes; > 1 needs Redis (the file store keeps nearline state per process)
    workers: int = Field(default=1, ge=1, le=64)
    admin_token: SecretStr | None = None
    ann_index: AnnIndexKind = "hnsw"
    default_model: str = "deepfm"
    recall_quotas: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_RECALL_QUOTAS))
    max_candidates: int = 500
    # threads that run recall + ranking at once (the rest of the requests wait their turn in FIFO
    # order): recall and ranking are CPU-bound and hold the GIL for most of their time, so on 2 cores
    # 40 of them at once (the default threadpool) only interleave: 2 gave ~20% more DeepFM
    # recommendations per second at 16 concurrent than 40, and half the p99
    rank_threads: int = Field(default=2, ge=1, le=64)
    # freeze the objects alive after a catalogue load out of the cyclic GC (online/heap.py)
    gc_freeze: bool = True
    # final ordering = model probability x ((1 + ratingCount) / (1 + max ratingCount)) ** weight
    # (online/ranking/blend.py): the models estimate P(positive | rated), a top-N list is judged by
    # P(rated and positive). 0 (default) = the model's order alone: while the seen filter knows only a
    # user's last 50 ratings, the prior mostly promotes popular movies the user rated long ago, and on
    # the temporal split any weight > 0 lowered NDCG@10; with the whole history filtered 0.5 raised it
    rank_popularity_weight: float = Field(default=0.0, ge=0.0)
    experiments_file: Path | None = None
    reload_poll_s: float = 10.0
    max_body_bytes: int = 64 * 1024
    cors_origins: list[str] = Field(default_factory=list)
    # when set, ranking calls TensorFlow Serving's REST API instead of loading SavedModels in-process
    tfserving_url: str | None = None
    exploration_share: float = 0.0
    log_level: str = "INFO"

    def resolved_work_dir(self) -> Path:
        """Where offline steps keep intermediate Parquet (default ``<artifacts>/work``)."""
        return self.work_dir if self.work_dir is not None else self.artifacts / "work"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()

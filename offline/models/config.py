"""Hyper-parameters shared by the ranking models and what a model builder returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the ranking models; defaults suit ml-latest-small on 2 CPU cores (a few minutes for all)."""

    embedding_dim: int = 16
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.0
    embedding_l2: float = 1e-4  # L2 penalty on every embedding table
    wide_buckets: int = 10_000  # hash buckets of each Wide&Deep cross feature
    tower_dim: int = 32  # two-tower output vector size

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> ModelConfig:
        """Overrides from ``PipelineParams.extra`` keys ``model_embedding_dim``, ``model_hidden``, ..."""
        fields = cls.__dataclass_fields__
        changes = {
            k[len("model_") :]: v for k, v in extra.items() if k.startswith("model_") and k[6:] in fields
        }
        if "hidden" in changes:
            changes["hidden"] = tuple(changes["hidden"])
        return cls(**changes)


@dataclass
class BuiltModel:
    """A ranking model (all raw inputs -> ``(B,)`` probability) and any sub-models it exports."""

    model: keras.Model
    # two-tower only: {"user_tower": model over USER_FEATURES, "item_tower": model over MOVIE_FEATURES}
    towers: dict[str, keras.Model] = field(default_factory=dict)

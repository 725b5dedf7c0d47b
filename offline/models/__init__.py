"""Ranking models on Keras 3 (Emb+MLP, Wide&Deep, NeuralCF, two-tower, DeepFM, DIN, NFM).

``train_and_export`` is the pipeline's entry point; TensorFlow is imported only when it runs.
See ``export.py`` for the serving signature contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from offline.params import PipelineParams
    from sparrow.bundle import BundleWriter


def train_and_export(
    train: Path, test: Path, writer: BundleWriter, params: PipelineParams, users: Path | None = None
) -> dict[str, dict]:
    """Train, evaluate and export ``params.models`` into the bundle (see ``offline.models.train_all``)."""
    from offline.models.train_all import train_and_export as run

    return run(train, test, writer, params, users)


__all__ = ["train_and_export"]

"""Fixtures of the ranking-model tests: synthetic sample Parquet and one shared training run.

All models are trained once per session (a few epochs on ~7k synthetic rows) into a real bundle;
every test reads that bundle and those Keras models, so the whole folder stays within minutes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from synthetic_samples import make_samples, write_split  # noqa: E402

from offline.params import ALL_MODELS, PipelineParams  # noqa: E402

# big enough steps that a model learns the synthetic taste groups in two short epochs
TEST_PARAMS = PipelineParams(models=ALL_MODELS, epochs=2, batch_size=128, learning_rate=0.01, seed=1)


@dataclass
class TrainedRun:
    entries: dict[str, dict]
    models: dict[str, Any]  # name -> BuiltModel
    bundle: Any  # sparrow.bundle.Bundle
    train_dir: Path
    test_dir: Path


@pytest.fixture(scope="session")
def sample_split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(train dir, test dir)`` of synthetic samples, time-split, written like Spark output."""
    return write_split(make_samples(), tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, sample_split: tuple[Path, Path]) -> TrainedRun:
    """Every model of ALL_MODELS trained, evaluated and exported into a committed bundle."""
    from offline.models.train_all import train_models
    from sparrow.bundle import write_bundle

    train_dir, test_dir = sample_split
    artifacts = tmp_path_factory.mktemp("artifacts")
    with write_bundle(artifacts, "test-version") as writer:
        entries, models = train_models(train_dir, test_dir, writer, TEST_PARAMS)
        writer.manifest["models"] = entries
        bundle = writer.commit()
    return TrainedRun(entries, models, bundle, train_dir, test_dir)

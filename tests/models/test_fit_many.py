"""offline.models.train.fit_many: one joint fit gives each model the updates of a fit of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from offline.models.layers import FeatureVocab
from offline.models.stream import ParquetSamples
from offline.models.train import fit, fit_many, predict
from offline.models.train_all import build_seeded
from offline.params import PipelineParams

PARAMS = PipelineParams(epochs=2, batch_size=256, learning_rate=0.01, seed=3)
NAMES = ("emb_mlp", "deepfm")


@pytest.fixture(scope="module")
def splits(sample_split: tuple[Path, Path]) -> tuple[ParquetSamples, ParquetSamples, FeatureVocab]:
    train, test = (ParquetSamples(p) for p in sample_split)
    return train, test, FeatureVocab.from_batches(train.vocab_batches())


def test_joint_fit_matches_one_fit_per_model(splits: tuple[ParquetSamples, ParquetSamples, FeatureVocab]) -> None:
    train, test, vocab = splits
    joint_models = {n: build_seeded(n, vocab, PARAMS).model for n in NAMES}
    joint = fit_many(joint_models, train, test, PARAMS)
    for name in NAMES:
        alone = build_seeded(name, vocab, PARAMS).model
        single = fit(alone, train, test, PARAMS)
        # same batches, disjoint weights, per-weight Adam moments: the same trained model
        assert joint[name].history["auc"] == pytest.approx(single.history["auc"], abs=1e-4)
        assert joint[name].history["val_auc"] == pytest.approx(single.history["val_auc"], abs=1e-4)
        np.testing.assert_allclose(predict(joint_models[name], test)[1], predict(alone, test)[1], atol=1e-4)
        assert set(joint[name].history) == {"loss", "auc", "val_loss", "val_auc"}
        assert len(joint[name].history["loss"]) == PARAMS.epochs
        assert len(joint[name].batch_curve) == len(single.batch_curve)
        assert joint[name].extra["joint_with"] == list(NAMES)


def test_models_differ_after_the_joint_fit(splits: tuple[ParquetSamples, ParquetSamples, FeatureVocab]) -> None:
    # guards the test above against a joint fit that trained nothing (both equal to untrained models)
    train, test, vocab = splits
    models = {n: build_seeded(n, vocab, PARAMS).model for n in NAMES}
    before = {n: predict(m, test)[1] for n, m in models.items()}
    fit_many(models, train, None, PARAMS.with_(epochs=1))
    for name, model in models.items():
        assert not np.allclose(predict(model, test)[1], before[name], atol=1e-3)

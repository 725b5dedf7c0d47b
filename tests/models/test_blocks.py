"""Unit tests of the shared blocks and the evaluation (no training)."""

from __future__ import annotations

import numpy as np
import pytest

from offline.models.evaluate import binary_metrics, calibration
from offline.models.layers import AttentionPooling, FMInteraction, MaskedMean


def test_fm_interaction_equals_sum_of_pairwise_dot_products() -> None:
    rng = np.random.default_rng(0)
    fields = rng.normal(size=(3, 4, 5)).astype("float32")
    pairwise = sum(np.sum(fields[:, i] * fields[:, j], axis=1) for i in range(4) for j in range(i + 1, 4))
    np.testing.assert_allclose(np.asarray(FMInteraction()(fields))[:, 0], pairwise, rtol=1e-4, atol=1e-5)
    assert np.asarray(FMInteraction(reduce=False)(fields)).shape == (3, 5)


def test_masked_mean_ignores_padding() -> None:
    values = np.arange(12, dtype="float32").reshape(1, 3, 4)
    valid = np.array([[True, False, True]])
    np.testing.assert_allclose(np.asarray(MaskedMean()(values, valid)), [(values[0, 0] + values[0, 2]) / 2])
    np.testing.assert_allclose(np.asarray(MaskedMean()(values, np.zeros((1, 3), bool))), np.zeros((1, 4)))


def test_attention_gives_padding_zero_weight() -> None:
    rng = np.random.default_rng(1)
    query, keys = rng.normal(size=(2, 4)).astype("float32"), rng.normal(size=(2, 3, 4)).astype("float32")
    layer = AttentionPooling(hidden=8)
    valid = np.array([[True, True, False], [True, True, False]])
    changed = keys.copy()
    changed[:, 2] = 100.0  # a padded slot's content must not matter
    np.testing.assert_allclose(
        np.asarray(layer(query, keys, valid)), np.asarray(layer(query, changed, valid))
    )
    assert np.asarray(layer(query, keys, valid)).shape == (2, 4)


def test_metrics_of_perfect_and_constant_scores() -> None:
    y = np.array([0, 0, 1, 1, 1])
    perfect = binary_metrics(y, np.array([0.01, 0.02, 0.98, 0.99, 0.97]))
    assert perfect["roc_auc"] == 1.0 and perfect["pr_auc"] == 1.0 and perfect["logloss"] < 0.05
    constant = binary_metrics(y, np.full(5, 0.6))
    assert constant["roc_auc"] == 0.5 and constant["ece"] == pytest.approx(0.0, abs=1e-9)
    assert calibration(y.astype(float), np.full(5, 0.9))["ece"] == pytest.approx(0.3)

"""The trivial baselines: a 1-D logistic map of a movie statistic, fitted on (a subset of) train."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from offline.models import evaluate
from offline.models.dataset import Samples


def _samples(n: int, seed: int) -> Samples:
    rng = np.random.default_rng(seed)
    avg = rng.uniform(0.5, 5.0, n).astype(np.float32)
    count = rng.integers(0, 1000, n).astype(np.float32)
    logit = (avg - 3.0) + 0.5 * (np.log1p(count) - 5.0)  # both statistics carry signal
    label = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return Samples({"movieAvgRating": avg, "movieRatingCount": count}, label)


def test_a_subset_fit_gives_the_ranking_and_nearly_the_probabilities_of_the_full_fit(monkeypatch) -> None:
    train, test = _samples(20_000, 1), _samples(5_000, 2)
    full = evaluate.baseline_scores(train, test)
    monkeypatch.setattr(evaluate, "BASELINE_FIT_ROWS", 2_000)
    subset = evaluate.baseline_scores(train, test)
    for name in evaluate.BASELINES:
        assert roc_auc_score(test.label, subset[name]) == pytest.approx(roc_auc_score(test.label, full[name]))
        assert np.abs(subset[name] - full[name]).max() < 0.05
    # the subset is a real subset: a label-free subset would make the fit constant
    assert subset["movie_avg_rating"].std() > 0.1

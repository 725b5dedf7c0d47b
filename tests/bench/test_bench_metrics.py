"""Top-N metric maths against values computed by hand."""

from __future__ import annotations

import math

import pytest

from bench.metrics import bootstrap_ci, coverage, evaluate_topn, hit_rate_at_k, ndcg_at_k, recall_at_k


def test_recall_divides_by_min_of_k_and_relevant() -> None:
    ranked = [5, 1, 9, 2, 7]
    assert recall_at_k(ranked, {1, 2, 3}, 5) == pytest.approx(2 / 3)
    # only 2 slots: 1 hit out of min(2, 3) = 2
    assert recall_at_k(ranked, {1, 2, 3}, 2) == pytest.approx(1 / 2)
    assert recall_at_k(ranked, set(), 5) == 0.0


def test_ndcg_by_hand() -> None:
    ranked = [5, 1, 9, 2]
    relevant = {1, 2}
    dcg = 1 / math.log2(3) + 1 / math.log2(5)  # hits at ranks 2 and 4
    idcg = 1 + 1 / math.log2(3)
    assert ndcg_at_k(ranked, relevant, 4) == pytest.approx(dcg / idcg)
    assert ndcg_at_k([1, 2, 3], relevant, 3) == pytest.approx(1.0)
    assert ndcg_at_k([7, 8], relevant, 2) == 0.0


def test_hit_rate_and_coverage() -> None:
    assert hit_rate_at_k([4, 5, 6], {6}, 3) == 1.0
    assert hit_rate_at_k([4, 5, 6], {6}, 2) == 0.0
    # items shown in top-2: {1, 2, 3} out of 10
    assert coverage([[1, 2, 9], [2, 3, 8]], 10, 2) == pytest.approx(0.3)


def test_evaluate_topn_means_over_users_and_missing_lists_score_zero() -> None:
    truth = {1: {10}, 2: {20, 21}}
    recs = {1: [10] + list(range(100, 149))}  # user 2 got no list
    s = evaluate_topn(recs, truth, catalogue_size=100)
    assert s.users == 2
    assert s.hit10 == pytest.approx(0.5)
    assert s.recall10 == pytest.approx(0.5)
    assert s.ndcg10 == pytest.approx(0.5)
    assert s.coverage10 == pytest.approx(10 / 100)
    lo, hi = s.ndcg10_ci
    assert 0.0 <= lo <= s.ndcg10 <= hi <= 1.0


def test_bootstrap_ci_brackets_the_mean() -> None:
    lo, hi = bootstrap_ci([0.0, 1.0] * 50)
    assert lo < 0.5 < hi
    assert bootstrap_ci([0.3] * 10) == pytest.approx((0.3, 0.3))

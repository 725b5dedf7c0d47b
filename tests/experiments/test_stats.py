"""Report maths against scipy.stats reference values."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from online.experiments import stats


@pytest.mark.parametrize(("k", "n"), [(0, 10), (1, 10), (5, 10), (10, 10), (37, 1000), (512, 4096), (3, 100_000)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    ref = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = stats.wilson_interval(k, n)
    assert low == pytest.approx(ref.low, abs=1e-9)
    assert high == pytest.approx(ref.high, abs=1e-9)


def test_wilson_other_confidence_and_edges() -> None:
    ref = sps.binomtest(30, 200).proportion_ci(confidence_level=0.99, method="wilson")
    assert stats.wilson_interval(30, 200, 0.99) == pytest.approx((ref.low, ref.high), abs=1e-9)
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    low, high = stats.wilson_interval(50, 20)  # more clicks than exposures is clamped, not a crash
    assert 0.0 <= low <= high <= 1.0 and high == 1.0
    with pytest.raises(ValueError):
        stats.z_for_confidence(1.0)


def _z_test_reference(x1: int, n1: int, x2: int, n2: int) -> float:
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (x1 / n1 - x2 / n2) / se
    return float(2 * sps.norm.sf(abs(z)))


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), [(120, 1000, 100, 1000), (30, 400, 52, 410), (5, 50, 5, 50),
                                                     (1, 20_000, 40, 20_000)])
def test_two_proportion_z_test_matches_reference(x1: int, n1: int, x2: int, n2: int) -> None:
    assert stats.two_proportion_z_test(x1, n1, x2, n2) == pytest.approx(_z_test_reference(x1, n1, x2, n2), rel=1e-9)


def test_z_test_is_symmetric_and_degenerate_cases() -> None:
    assert stats.two_proportion_z_test(30, 400, 52, 410) == pytest.approx(stats.two_proportion_z_test(52, 410, 30, 400))
    assert stats.two_proportion_z_test(0, 100, 0, 100) == 1.0
    assert stats.two_proportion_z_test(3, 0, 1, 10) is None
    # a real difference with much data is significant, the same rates with little data are not
    assert stats.two_proportion_z_test(1200, 10_000, 1000, 10_000) < 0.001
    assert stats.two_proportion_z_test(12, 100, 10, 100) > 0.5


@pytest.mark.parametrize(("a", "b"), [(0, 1), (7, 3), (3, 7), (10, 10), (60, 40), (520, 480), (1, 30)])
def test_sign_test_matches_scipy_binomtest(a: int, b: int) -> None:
    assert stats.sign_test(a, b) == pytest.approx(sps.binomtest(a, a + b, 0.5).pvalue, rel=1e-9)


def test_sign_test_large_n_uses_normal_approximation_close_to_exact() -> None:
    a, b = 60_300, 59_700 + 50_000
    assert stats.sign_test(a, b) == pytest.approx(sps.binomtest(a, a + b, 0.5).pvalue, abs=1e-6)
    assert stats.sign_test(0, 0) is None


def test_ctr() -> None:
    assert stats.ctr(3, 12) == 0.25
    assert stats.ctr(1, 0) == 0.0

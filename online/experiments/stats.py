"""The statistics of experiment reports: CTR, Wilson intervals, the two-proportion z-test, the sign test.

Pure functions over counts (only the standard library), so the report maths is tested without servers
and checked against ``scipy.stats`` in the tests.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_NORMAL = NormalDist()

# exact binomial sums cost O(n); past this many trials the normal approximation is exact enough
_EXACT_SIGN_TEST_MAX_N = 100_000


def ctr(clicks: int, exposures: int) -> float:
    """Click-through rate ``clicks / exposures`` (0.0 with no exposures; clicks capped at exposures)."""
    if exposures <= 0:
        return 0.0
    return min(clicks, exposures) / exposures


def z_for_confidence(confidence: float) -> float:
    """Two-sided standard-normal quantile, e.g. 1.95996 for a 95% interval."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return _NORMAL.inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927).

    Unlike the normal ("Wald") interval it stays inside [0, 1] and behaves with few clicks, which is
    the usual state of a young experiment. With no trials nothing is known: ``(0.0, 1.0)``.
    """
    if trials <= 0:
        return 0.0, 1.0
    k = min(max(successes, 0), trials)
    z = z_for_confidence(confidence)
    p = k / trials
    z2n = z * z / trials
    denom = 1.0 + z2n
    center = (p + z2n / 2.0) / denom
    half = z * math.sqrt(p * (1.0 - p) / trials + z2n / (4.0 * trials)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def two_proportion_z_test(clicks_a: int, n_a: int, clicks_b: int, n_b: int) -> float | None:
    """Two-sided p-value of H0 "CTR_a == CTR_b" with the pooled two-proportion z-test.

    ``None`` when a group has no exposures (no test possible); 1.0 when the pooled rate is 0 or 1
    (both groups identical, the statistic is undefined but there is no evidence of a difference).
    """
    if n_a <= 0 or n_b <= 0:
        return None
    x_a, x_b = min(max(clicks_a, 0), n_a), min(max(clicks_b, 0), n_b)
    pooled = (x_a + x_b) / (n_a + n_b)
    variance = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    if variance <= 0.0:
        return 1.0
    z = (x_a / n_a - x_b / n_b) / math.sqrt(variance)
    return min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))


def sign_test(wins_a: int, wins_b: int) -> float | None:
    """Two-sided p-value of H0 "each decided comparison is a fair coin" (exact binomial, p = 0.5).

    This is the test of interleaving experiments: every impression with a winner is one trial, ties
    are left out. ``None`` when there is no decided impression yet.
    """
    wins_a, wins_b = max(wins_a, 0), max(wins_b, 0)
    n = wins_a + wins_b
    if n == 0:
        return None
    low = min(wins_a, wins_b)
    if n > _EXACT_SIGN_TEST_MAX_N:
        # normal approximation with continuity correction
        z = (abs(wins_a - wins_b) - 1.0) / math.sqrt(n)
        return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2.0)))
    log_half_n = n * math.log(2.0)
    log_n_fact = math.lgamma(n + 1)
    tail = 0.0
    for i in range(low + 1):
        tail += math.exp(log_n_fact - math.lgamma(i + 1) - math.lgamma(n - i + 1) - log_half_n)
    return min(1.0, 2.0 * tail)

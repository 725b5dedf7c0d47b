"""The itemcf pair budget: the per-user cap shrinks only when the self-join would exceed it."""

from __future__ import annotations

from offline.similar_lists import pair_budget_cap


def _pairs(hist: dict[int, int], cap: int) -> int:
    return sum(u * min(n, cap) * (min(n, cap) - 1) // 2 for n, u in hist.items())


def test_small_data_keeps_the_configured_cap() -> None:
    assert pair_budget_cap({10: 600, 300: 5}, 250, 40_000_000) == 250


def test_the_cap_is_the_largest_within_budget() -> None:
    hist = {80: 162_000, 1_000: 10_000}  # an ML-25M-like tail of heavy raters
    cap = pair_budget_cap(hist, 250, 40_000_000)
    assert cap < 250
    assert _pairs(hist, cap) <= 40_000_000 < _pairs(hist, cap + 1)


def test_a_tiny_budget_still_pairs_something() -> None:
    assert pair_budget_cap({100: 1_000}, 250, 1) == 2

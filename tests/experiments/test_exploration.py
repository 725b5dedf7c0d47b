"""Thompson-sampling exploration: share of slots, placement, and that an unexposed movie gets shown."""

from __future__ import annotations

import random

import pytest

from online.experiments.exploration import InMemoryMovieStats, explore, slot_count, thompson_draws

RANKED = list(range(1, 21))  # a page of 20
POOL = list(range(100, 140))


def test_share_zero_disables() -> None:
    assert explore(RANKED, POOL, 0.0, InMemoryMovieStats(), random.Random(0)) == RANKED


@pytest.mark.parametrize("share", [0.1, 0.15, 0.33])
def test_average_share_of_slots(share: float) -> None:
    rng = random.Random(11)
    stats = InMemoryMovieStats()
    explored = 0
    runs = 1000
    for _ in range(runs):
        out = explore(RANKED, POOL, share, stats, rng)
        assert len(out) == len(RANKED) and len(set(out)) == len(out)
        assert out[0] == RANKED[0]  # the best-ranked movie keeps the top slot
        new = [m for m in out if m not in RANKED]
        assert set(new) <= set(POOL)
        kept = [m for m in out if m in RANKED]
        assert kept == RANKED[: len(kept)]  # the tail is what gives way, order kept
        explored += len(new)
    assert explored / (runs * len(RANKED)) == pytest.approx(share, abs=0.01)


def test_slot_count_expectation() -> None:
    rng = random.Random(2)
    counts = [slot_count(10, 0.05, rng) for _ in range(4000)]
    assert set(counts) == {0, 1}
    assert sum(counts) / len(counts) == pytest.approx(0.5, abs=0.03)


def test_unexposed_movie_beats_heavily_exposed_unclicked_ones() -> None:
    stats = InMemoryMovieStats()
    pool = list(range(100, 120))
    for _ in range(200):  # every pool movie but 119 shown 200 times without a click
        stats.add_exposures(pool[:-1])
    rng = random.Random(4)
    picked = sum(119 in explore(RANKED, pool, 0.05, stats, rng) for _ in range(500))
    chosen_any = sum(any(m in pool for m in explore(RANKED, pool, 0.05, stats, rng)) for _ in range(500))
    # whenever a slot explores, the unexposed movie wins it nearly always
    assert picked > 0.9 * chosen_any > 0


def test_unexposed_movie_eventually_gets_a_slot_in_a_feedback_loop() -> None:
    stats = InMemoryMovieStats()
    rng = random.Random(9)
    pool = list(range(100, 150))
    clicky = {100, 101, 102}  # the popular ones get clicks, so their posteriors are high
    for _ in range(50):
        stats.add_exposures(pool)
        for m in clicky:
            stats.add_click(m)
    newcomer = 999
    rounds_until_shown = None
    for round_ in range(200):
        out = explore(RANKED, [*pool, newcomer], 0.1, stats, rng)
        shown = [m for m in out if m not in RANKED]
        stats.add_exposures(shown)
        if newcomer in shown:
            rounds_until_shown = round_
            break
    assert rounds_until_shown is not None, "the new movie never got an exploration slot"


def test_max_exposures_filters_the_pool() -> None:
    stats = InMemoryMovieStats()
    stats.add_exposures([100, 101])
    stats.add_exposures([100])
    out = explore(RANKED, [100, 101, 102], 1.0, stats, random.Random(0), max_exposures=1)
    assert set(out) == {101, 102} | set(RANKED[:18])


def test_thompson_draws_follow_the_posterior_mean() -> None:
    rng = random.Random(1)
    draws = [thompson_draws([(100, 30), (100, 5)], rng) for _ in range(2000)]
    mean_hi = sum(d[0] for d in draws) / len(draws)
    mean_lo = sum(d[1] for d in draws) / len(draws)
    assert mean_hi == pytest.approx(31 / 102, abs=0.01)
    assert mean_lo == pytest.approx(6 / 102, abs=0.01)


def test_explored_movies_skip_already_ranked_and_short_pools() -> None:
    out = explore(RANKED, RANKED[:5], 0.5, InMemoryMovieStats(), random.Random(0))
    assert out == RANKED  # nothing new to explore
    out = explore([1], [7], 1.0, InMemoryMovieStats(), random.Random(0))
    assert out == [7]

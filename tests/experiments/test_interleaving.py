"""Team-draft interleaving: properties of the merged list and click credit."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from online.experiments.interleaving import TEAM_A, TEAM_B, TIE, credit, outcome, team_draft

ranking = st.lists(st.integers(min_value=1, max_value=60), max_size=40)


@settings(max_examples=300, deadline=None)
@given(list_a=ranking, list_b=ranking, size=st.integers(min_value=0, max_value=50), seed=st.integers(0, 2**32))
def test_team_draft_properties(list_a: list[int], list_b: list[int], size: int, seed: int) -> None:
    merged, teams = team_draft(list_a, list_b, size, random.Random(seed))
    assert len(merged) == len(set(merged))  # no duplicates
    assert set(teams) == set(merged)
    assert len(merged) == min(size, len(set(list_a) | set(list_b)))  # the page is filled when possible
    for item in merged:
        assert item in (list_a if teams[item] == TEAM_A else list_b)  # credited to a list that holds it
    # each team's picks appear in its own ranking's order (it always takes its best unpicked item)
    for team, source in ((TEAM_A, list_a), (TEAM_B, list_b)):
        picked = [m for m in merged if teams[m] == team]
        first_rank = {m: source.index(m) for m in picked}
        assert picked == sorted(picked, key=first_rank.__getitem__)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(min_value=1, max_value=30), seed=st.integers(0, 2**32))
def test_teams_balanced_while_both_lists_last(size: int, seed: int) -> None:
    rng = random.Random(seed)
    pool = list(range(1, 200))
    list_a, list_b = rng.sample(pool, 60), rng.sample(pool, 60)
    merged, teams = team_draft(list_a, list_b, size, random.Random(seed))
    n_a = sum(1 for m in merged if teams[m] == TEAM_A)
    assert abs(n_a - (len(merged) - n_a)) <= 1
    # every prefix is balanced too: the team behind always picks next
    for k in range(1, len(merged) + 1):
        a = sum(1 for m in merged[:k] if teams[m] == TEAM_A)
        assert abs(a - (k - a)) <= 1


def test_first_pick_is_a_fair_coin() -> None:
    rng = random.Random(5)
    firsts = []
    for _ in range(2000):
        merged, teams = team_draft([1, 2, 3], [4, 5, 6], 4, rng)
        firsts.append(teams[merged[0]])
    share_a = firsts.count(TEAM_A) / len(firsts)
    assert 0.45 < share_a < 0.55


def test_identical_rankings_give_the_same_list() -> None:
    ranked = [5, 3, 9, 1, 7]
    merged, teams = team_draft(ranked, ranked, 5, random.Random(1))
    assert merged == ranked
    assert {teams[m] for m in merged} == {TEAM_A, TEAM_B}


def test_one_list_exhausted_other_fills() -> None:
    merged, teams = team_draft([1], [2, 3, 4, 5], 4, random.Random(0))
    assert sorted(merged) == [1, 2, 3, 4]
    assert teams[1] == TEAM_A and all(teams[m] == TEAM_B for m in (2, 3, 4))


def test_credit_and_outcome() -> None:
    merged, teams = team_draft([1, 2, 3, 4], [5, 6, 7, 8], 6, random.Random(3))
    a_items = [m for m in merged if teams[m] == TEAM_A]
    b_items = [m for m in merged if teams[m] == TEAM_B]
    clicks = [a_items[0], a_items[1], b_items[0], a_items[0], 999]  # repeat and unshown click ignored
    assert credit(teams, clicks) == {TEAM_A: 2, TEAM_B: 1}
    assert outcome(2, 1) == TEAM_A
    assert outcome(0, 3) == TEAM_B
    assert outcome(2, 2) == TIE
    assert outcome(0, 0) is None

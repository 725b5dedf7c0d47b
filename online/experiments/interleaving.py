"""Team-draft interleaving (Radlinski, Kurup & Joachims, "How does clickthrough data reflect retrieval
quality?", CIKM 2008, Algorithm 2) and the per-impression outcome used to compare two rankers.

Each round the team with fewer picks (a coin flip on a tie) adds its highest-ranked item not yet in the
merged list; the item remembers its team. A click is credited to the team that contributed the item,
and an impression is won by the team with more credited clicks (Chapelle et al., TOIS 2012).
"""

from __future__ import annotations

import random
from collections.abc import Mapping

TEAM_A = "A"
TEAM_B = "B"
TIE = "tie"


def team_draft(
    list_a: list[int], list_b: list[int], size: int, rng: random.Random
) -> tuple[list[int], dict[int, str]]:
    """Merge two rankings into at most ``size`` items; return ``(merged, {movieId: "A" | "B"})``.

    Every merged item comes from one of the lists, without duplicates, and while both lists still have
    unpicked items the team sizes differ by at most one. When one list runs out the other fills the
    remaining slots (credited to its own team) so the page is not left short.
    """
    merged: list[int] = []
    teams: dict[int, str] = {}
    picks = {TEAM_A: 0, TEAM_B: 0}
    cursor = {TEAM_A: 0, TEAM_B: 0}
    source = {TEAM_A: list_a, TEAM_B: list_b}

    def next_item(team: str) -> int | None:
        items = source[team]
        while cursor[team] < len(items) and items[cursor[team]] in teams:
            cursor[team] += 1
        return items[cursor[team]] if cursor[team] < len(items) else None

    while len(merged) < size:
        head_a, head_b = next_item(TEAM_A), next_item(TEAM_B)
        if head_a is None and head_b is None:
            break
        if head_a is None or head_b is None:  # one list ran out: the other fills the page
            team = TEAM_B if head_a is None else TEAM_A
        else:  # the team with fewer picks goes next; a coin flip breaks a tie
            a_turn = picks[TEAM_A] < picks[TEAM_B] or (picks[TEAM_A] == picks[TEAM_B] and rng.random() < 0.5)
            team = TEAM_A if a_turn else TEAM_B
        item = head_a if team == TEAM_A else head_b
        assert item is not None
        merged.append(item)
        teams[item] = team
        picks[team] += 1
    return merged, teams


def credit(teams: Mapping[int, str], clicked: list[int]) -> dict[str, int]:
    """Clicks per team for one impression (clicks on items it did not show are ignored)."""
    out = {TEAM_A: 0, TEAM_B: 0}
    for movie_id in dict.fromkeys(clicked):  # a movie clicked twice counts once
        team = teams.get(movie_id)
        if team is not None:
            out[team] += 1
    return out


def outcome(clicks_a: int, clicks_b: int) -> str | None:
    """Winner of one impression: ``"A"``, ``"B"``, ``"tie"`` (equal, non-zero) or None (no clicks)."""
    if clicks_a == clicks_b:
        return TIE if clicks_a > 0 else None
    return TEAM_A if clicks_a > clicks_b else TEAM_B

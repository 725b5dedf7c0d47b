"""Pure recall-merge rules: quotas, already-seen filtering, de-duplication, channel lists, fusion order."""

from __future__ import annotations

from collections.abc import Container, Iterable

from hypothesis import given
from hypothesis import strategies as st

from online.recall.merge import contributions, effective_quotas, merge_channels, take_quota


def _take_quota_reference(items: Iterable[tuple[int, float]], quota: int, exclude: set[int],
                          allowed: Container[int] | None) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    for movie_id, score in items:
        fresh = movie_id not in exclude and movie_id not in {m for m, _ in out}
        if len(out) < quota and fresh and (allowed is None or movie_id in allowed):
            out.append((movie_id, score))
    return out


def test_take_quota_skips_excluded_and_duplicates() -> None:
    items = [(1, 0.9), (2, 0.8), (1, 0.7), (3, 0.6), (4, 0.5)]
    assert take_quota(items, 2, exclude={2}) == [(1, 0.9), (3, 0.6)]
    assert take_quota(items, 0, exclude=set()) == []


@given(
    ids=st.lists(st.integers(0, 30), max_size=40),
    quota=st.integers(0, 45),
    exclude=st.sets(st.integers(0, 30), max_size=10),
    allowed=st.none() | st.sets(st.integers(0, 30), min_size=20),
    kind=st.sampled_from(["set", "dict", "list"]),
    as_iterator=st.booleans(),
)
def test_take_quota_matches_the_item_by_item_rule(ids: list[int], quota: int, exclude: set[int],
                                                  allowed: set[int] | None, kind: str, as_iterator: bool) -> None:
    """The set-operation fast path gives exactly the item-by-item answer, for every container and input shape."""
    items = [(m, float(i)) for i, m in enumerate(ids)]
    container: Container[int] | None = allowed
    if allowed is not None and kind == "dict":
        container = dict.fromkeys(allowed, object())
    elif allowed is not None and kind == "list":
        container = sorted(allowed)
    got = take_quota(iter(items) if as_iterator else items, quota, exclude, container)
    assert got == _take_quota_reference(items, quota, exclude, allowed)


def _merge_reference(results: dict[str, list[tuple[int, float]]], quotas: dict[str, int], exclude: set[int],
                     max_candidates: int) -> list[tuple[int, float, list[str]]]:
    fused: dict[int, float] = {}
    channels: dict[int, list[str]] = {}
    for channel, items in results.items():
        for rank, (movie_id, _) in enumerate(_take_quota_reference(items, quotas.get(channel, 0), exclude, None)):
            fused[movie_id] = fused.get(movie_id, 0.0) + 1.0 / (60 + rank + 1)
            channels.setdefault(movie_id, []).append(channel)
    best = sorted(fused, key=lambda m: (-fused[m], m))[:max_candidates]
    return [(m, fused[m], channels[m]) for m in best]


@given(
    results=st.dictionaries(st.sampled_from(["embedding", "item2item", "als", "genre", "popular"]),
                            st.lists(st.tuples(st.integers(0, 40), st.floats(0, 1)), max_size=30), max_size=5),
    quota=st.integers(0, 20),
    exclude=st.sets(st.integers(0, 40), max_size=8),
    cap=st.integers(1, 60),
)
def test_merge_matches_channel_by_channel_fusion(results: dict[str, list[tuple[int, float]]], quota: int,
                                                 exclude: set[int], cap: int) -> None:
    """The vectorised fusion: same movies, bit-identical scores, same order and channel lists."""
    quotas = {name: quota + i for i, name in enumerate(results)}
    merged = merge_channels(results, quotas, exclude, cap)
    assert [(c.movie_id, c.score, c.channels) for c in merged] == _merge_reference(results, quotas, exclude, cap)


def test_merge_dedupes_and_remembers_channels() -> None:
    results = {"embedding": [(1, 0.9), (2, 0.8), (3, 0.7)], "item2item": [(2, 5.0), (4, 4.0)], "popular": [(9, 1.0)]}
    merged = merge_channels(results, {"embedding": 3, "item2item": 2, "popular": 1}, exclude={3}, max_candidates=10)
    ids = [c.movie_id for c in merged]
    assert sorted(ids) == [1, 2, 4, 9] and len(ids) == len(set(ids))
    by_id = {c.movie_id: c for c in merged}
    assert by_id[2].channels == ["embedding", "item2item"]
    # brought by two channels -> highest fused score
    assert ids[0] == 2
    assert contributions(merged) == {"embedding": 2, "item2item": 2, "popular": 1}


def test_merge_respects_quotas_and_cap() -> None:
    results = {"a": [(i, 1.0) for i in range(100)], "b": [(i, 1.0) for i in range(100, 200)]}
    merged = merge_channels(results, {"a": 10, "b": 5}, exclude=set(), max_candidates=12)
    assert len(merged) == 12
    assert sum(1 for c in merged if c.channels == ["b"]) <= 5
    off = merge_channels(results, {"a": 0, "b": 5}, exclude=set(), max_candidates=100)
    assert all(c.channels == ["b"] for c in off)


def test_effective_quotas_applies_variant_overrides() -> None:
    assert effective_quotas({"a": 1, "b": 2}, {"b": 0, "c": 3}) == {"a": 1, "b": 0, "c": 3}
    assert effective_quotas({"a": 1}, None) == {"a": 1}



def test_merge_orders_ties_by_movie_id_and_drops_movies_outside_the_catalogue() -> None:
    # every movie first in its own channel: equal fused scores, so movieId decides; 7 is unknown
    results = {"a": [(5, 1.0), (8, 0.5)], "b": [(3, 1.0)], "c": [(7, 1.0), (4, 0.1)]}
    merged = merge_channels(results, {"a": 2, "b": 1, "c": 2}, exclude=set(), max_candidates=3, allowed={3, 4, 5, 8})
    # 7 dropped, so 4 is channel c's first: 3, 4, 5 tie at rank 0; 8 (rank 1) falls past the cap
    assert [c.movie_id for c in merged] == [3, 4, 5]
    assert merged[1].channels == ["c"] and merged[0].score == merged[1].score == merged[2].score
    assert merge_channels({}, {}, exclude=set(), max_candidates=5) == []

"""Pure merge logic of multi-channel recall: quotas, already-seen filtering, de-duplication, fusion.

No I/O here, so the rules are tested directly: each channel contributes at most its quota of
*unseen* movies; a movie brought by several channels appears once, remembers every channel,
and its fused score is the sum of reciprocal ranks (RRF) over the channels that brought it.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import numpy as np

RRF_K = 60  # reciprocal-rank-fusion constant (Cormack et al. 2009)


@dataclass(slots=True)
class Candidate:
    """A recalled movie: fused recall score and the channels that brought it (in channel order)."""

    movie_id: int
    score: float = 0.0
    channels: list[str] = field(default_factory=list)


def take_quota(
    items: Iterable[tuple[int, float]], quota: int, exclude: set[int], allowed: Container[int] | None = None
) -> list[tuple[int, float]]:
    """The first ``quota`` items of a channel that are not excluded (and are ``allowed``), each movie once."""
    if quota <= 0:
        return []
    if not isinstance(items, Sequence):
        items = list(items)  # read twice below
    head = list(items[:quota])
    # the channels filter the seen movies themselves, so the head is nearly always the answer: checked
    # with set operations in C instead of three membership tests per movie in Python
    head_ids = {movie_id for movie_id, _ in head}
    if len(head_ids) == len(head) and head_ids.isdisjoint(exclude) and _all_allowed(head_ids, allowed):
        return head
    out: list[tuple[int, float]] = []
    seen: set[int] = set()
    for movie_id, score in items:
        if movie_id in exclude or movie_id in seen or (allowed is not None and movie_id not in allowed):
            continue
        seen.add(movie_id)
        out.append((movie_id, score))
        if len(out) >= quota:
            break
    return out


def _all_allowed(ids: set[int], allowed: Container[int] | None) -> bool:
    if allowed is None:
        return True
    if isinstance(allowed, Mapping):
        return allowed.keys() >= ids
    if isinstance(allowed, AbstractSet):
        return ids <= allowed
    return all(movie_id in allowed for movie_id in ids)


def merge_channels(
    results: Mapping[str, Sequence[tuple[int, float]]],
    quotas: Mapping[str, int],
    exclude: set[int],
    max_candidates: int,
    allowed: Container[int] | None = None,
) -> list[Candidate]:
    """Merge channel outputs (each best first) into at most ``max_candidates`` candidates, best first.

    ``allowed`` (the catalogue's movies) drops ids a channel knows but the catalogue does not.
    Fused scores and channel lists are kept in two dicts and only the survivors become
    :class:`Candidate` objects: with quotas of 600+ movies a request, building an object per
    recalled movie and sorting them with a key function was the largest Python cost of recall.
    """
    fused: dict[int, float] = {}
    channels: dict[int, list[str]] = {}
    for channel, items in results.items():
        for rank, (movie_id, _) in enumerate(take_quota(items, quotas.get(channel, 0), exclude, allowed)):
            if movie_id in fused:
                fused[movie_id] += 1.0 / (RRF_K + rank + 1)
                channels[movie_id].append(channel)
            else:
                fused[movie_id] = 1.0 / (RRF_K + rank + 1)
                channels[movie_id] = [channel]
    if not fused:
        return []
    ids = np.fromiter(fused.keys(), dtype=np.int64, count=len(fused))
    scores = np.fromiter(fused.values(), dtype=np.float64, count=len(fused))
    # best fused score first, ties by movieId: the order of sorted(key=(-score, movieId))
    order = np.lexsort((ids, -scores))[:max_candidates].tolist()
    id_list, score_list = ids.tolist(), scores.tolist()
    return [Candidate(id_list[i], score_list[i], channels[id_list[i]]) for i in order]


def contributions(candidates: Sequence[Candidate]) -> dict[str, int]:
    """How many candidates each channel brought (a movie brought by two channels counts for both)."""
    counts: dict[str, int] = {}
    for cand in candidates:
        for channel in cand.channels:
            counts[channel] = counts.get(channel, 0) + 1
    return counts


def effective_quotas(base: Mapping[str, int], override: Mapping[str, int] | None) -> dict[str, int]:
    """Configured quotas with a variant's overrides applied (a channel set to 0 is switched off)."""
    quotas = dict(base)
    if override:
        quotas.update({k: int(v) for k, v in override.items()})
    return quotas

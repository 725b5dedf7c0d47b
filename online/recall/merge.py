"""Pure merge logic of multi-channel recall: quotas, already-seen filtering, de-duplication, fusion.

No I/O here, so the rules are tested directly: each channel contributes at most its quota of
*unseen* movies; a movie brought by several channels appears once, remembers every channel,
and its fused score is the sum of reciprocal ranks (RRF) over the channels that brought it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

RRF_K = 60  # reciprocal-rank-fusion constant (Cormack et al. 2009)


@dataclass(slots=True)
class Candidate:
    """A recalled movie: fused recall score and the channels that brought it (in channel order)."""

    movie_id: int
    score: float = 0.0
    channels: list[str] = field(default_factory=list)


def take_quota(items: Iterable[tuple[int, float]], quota: int, exclude: set[int]) -> list[tuple[int, float]]:
    """The first ``quota`` items of a channel that are not excluded, each movie once."""
    out: list[tuple[int, float]] = []
    seen: set[int] = set()
    if quota <= 0:
        return out
    for movie_id, score in items:
        if movie_id in exclude or movie_id in seen:
            continue
        seen.add(movie_id)
        out.append((movie_id, score))
        if len(out) >= quota:
            break
    return out


def merge_channels(
    results: Mapping[str, Sequence[tuple[int, float]]],
    quotas: Mapping[str, int],
    exclude: set[int],
    max_candidates: int,
) -> list[Candidate]:
    """Merge channel outputs (each best first) into at most ``max_candidates`` candidates, best first."""
    merged: dict[int, Candidate] = {}
    for channel, items in results.items():
        for rank, (movie_id, _) in enumerate(take_quota(items, quotas.get(channel, 0), exclude)):
            cand = merged.get(movie_id)
            if cand is None:
                cand = merged[movie_id] = Candidate(movie_id)
            cand.score += 1.0 / (RRF_K + rank + 1)
            cand.channels.append(channel)
    ordered = sorted(merged.values(), key=lambda c: (-c.score, c.movie_id))
    return ordered[:max_candidates]


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

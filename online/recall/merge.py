"""Pure merge logic of multi-channel recall: quotas, already-seen filtering, de-duplication, fusion.

No I/O here, so the rules are tested directly: each channel contributes at most its quota of
*unseen* movies; a movie brought by several channels appears once, remembers every channel,
and its fused score is the sum of reciprocal ranks (RRF) over the channels that brought it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from online.ranking.blend import blended_order

RRF_K = 60  # reciprocal-rank-fusion constant (Cormack et al. 2009)


@dataclass(slots=True)
class Candidate:
    """A recalled movie: fused recall score and the channels that brought it (in channel order; read-only,
    as candidates of one merge share these lists)."""

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
    Fusion is a handful of numpy calls over all channels' movies at once and only the survivors
    become :class:`Candidate` objects: with quotas of 600+ movies a request, per-movie Python
    (dict updates, an object per recalled movie, a sort with a key function) was the largest
    cost of recall.
    """
    names: list[str] = []
    kept: list[list[tuple[int, float]]] = []
    for channel, items in results.items():
        taken = take_quota(items, quotas.get(channel, 0), exclude, allowed)
        if taken:
            names.append(channel)
            kept.append(taken)
    if not kept:
        return []
    lengths = [len(taken) for taken in kept]
    ids = np.fromiter((movie_id for taken in kept for movie_id, _ in taken), dtype=np.int64, count=sum(lengths))
    ranks = np.concatenate([np.arange(n) for n in lengths])
    channel_bit = np.repeat(1 << np.arange(len(names)), lengths)
    movies, inverse = np.unique(ids, return_inverse=True)
    # bincount adds in array (= channel) order, so the sums are bit-identical to adding channel by
    # channel; a movie is at most once per channel, so the summed bits are the set of its channels
    fused = np.bincount(inverse, weights=1.0 / (RRF_K + ranks + 1))
    bits = np.bincount(inverse, weights=channel_bit).astype(np.int64)
    order = blended_order(movies, fused)[:max_candidates]  # best fused score first, ties by movieId
    id_list, score_list, bit_list = movies[order].tolist(), fused[order].tolist(), bits[order].tolist()
    # candidates brought by the same channels share one list (nothing mutates it; responses copy it)
    channel_lists = {b: [name for i, name in enumerate(names) if b >> i & 1] for b in set(bit_list)}
    return [Candidate(m, f, channel_lists[b]) for m, f, b in zip(id_list, score_list, bit_list, strict=True)]


def contributions(candidates: Sequence[Candidate]) -> dict[str, int]:
    """How many candidates each channel brought (a movie brought by two channels counts for both)."""
    return dict(Counter(chain.from_iterable(cand.channels for cand in candidates)))


def effective_quotas(base: Mapping[str, int], override: Mapping[str, int] | None) -> dict[str, int]:
    """Configured quotas with a variant's overrides applied (a channel set to 0 is switched off)."""
    quotas = dict(base)
    if override:
        quotas.update({k: int(v) for k, v in override.items()})
    return quotas

"""Stable user bucketing: ``bucket = hash(salt, userId) mod 100``, and variants as bucket ranges.

The hash is BLAKE2b, not Python's ``hash()`` (salted per process), so a user keeps their bucket across
processes, replicas and restarts. A new salt reshuffles users independently of other experiments.
"""

from __future__ import annotations

import hashlib

from online import schemas

BUCKETS = 100


def bucket(salt: str, user_id: int, buckets: int = BUCKETS) -> int:
    """The user's bucket in ``[0, buckets)``: first 8 bytes of BLAKE2b(``"{salt}:{user_id}"``) mod buckets."""
    digest = hashlib.blake2b(f"{salt}:{int(user_id)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets


def traffic_bucket(salt: str, user_id: int) -> int:
    """A second, independent bucket deciding whether the user is in the experiment at all.

    Independent of :func:`bucket` (different hash input), so the users outside an experiment's
    traffic share are not all from one end of its variant split.
    """
    return bucket(f"{salt}#traffic", user_id)


def variant_ranges(variants: list[schemas.Variant]) -> list[tuple[int, int, schemas.Variant]]:
    """``[(start, end, variant)]``: consecutive half-open bucket ranges in config order, sized by weight."""
    ranges = []
    start = 0
    for variant in variants:
        ranges.append((start, start + variant.weight, variant))
        start += variant.weight
    return ranges


def variant_for_bucket(variants: list[schemas.Variant], user_bucket: int) -> schemas.Variant:
    """The variant whose bucket range holds ``user_bucket`` (weights are validated to sum to 100)."""
    for start, end, variant in variant_ranges(variants):
        if start <= user_bucket < end:
            return variant
    raise ValueError(f"bucket {user_bucket} is outside every variant range (weights must sum to {BUCKETS})")

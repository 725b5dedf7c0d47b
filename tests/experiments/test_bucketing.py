"""Bucketing: stable across processes, roughly uniform, variants get their weight, traffic shares."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter

import pytest
from scipy import stats as sps

from online import schemas
from online.experiments.bucketing import BUCKETS, bucket, traffic_bucket, variant_for_bucket, variant_ranges

USERS = range(1, 10_001)


def test_bucket_is_blake2b_of_salt_and_user_mod_100() -> None:
    # the documented definition, recomputed independently: anything else would move users on upgrade
    for user in (1, 42, 610, 123_456):
        digest = hashlib.blake2b(f"salt-x:{user}".encode(), digest_size=8).digest()
        assert bucket("salt-x", user) == int.from_bytes(digest, "big") % 100


def test_bucket_stable_across_processes_with_different_hash_seeds() -> None:
    code = "from online.experiments.bucketing import bucket; print([bucket('exp-salt', u) for u in range(1, 200)])"
    here = [bucket("exp-salt", u) for u in range(1, 200)]
    for seed in ("12345",):  # one child is enough: the parent runs with a random hash seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == str(here)


def test_buckets_roughly_uniform_on_10k_users() -> None:
    counts = Counter(bucket("uniformity", u) for u in USERS)
    assert set(counts) <= set(range(BUCKETS))
    observed = [counts.get(b, 0) for b in range(BUCKETS)]
    expected = len(USERS) / BUCKETS
    chi2 = sum((o - expected) ** 2 / expected for o in observed)
    # a fair hash exceeds the 99.9% quantile of chi2(99) once in a thousand salts
    assert chi2 < sps.chi2.ppf(0.999, BUCKETS - 1), chi2


def test_salts_are_independent() -> None:
    a = [bucket("salt-one", u) < 50 for u in USERS]
    b = [bucket("salt-two", u) < 50 for u in USERS]
    agree = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
    assert 0.46 < agree < 0.54  # independent halves agree about half the time


def test_variant_weights_respected() -> None:
    variants = [schemas.Variant(name="a", weight=70), schemas.Variant(name="b", weight=20),
                schemas.Variant(name="c", weight=10)]
    assert [(s, e) for s, e, _ in variant_ranges(variants)] == [(0, 70), (70, 90), (90, 100)]
    counts = Counter(variant_for_bucket(variants, bucket("weights", u)).name for u in USERS)
    n = len(USERS)
    for name, weight in (("a", 0.7), ("b", 0.2), ("c", 0.1)):
        # 4 binomial standard deviations
        assert abs(counts[name] / n - weight) < 4 * (weight * (1 - weight) / n) ** 0.5, counts


def test_zero_weight_variant_gets_nobody() -> None:
    variants = [schemas.Variant(name="off", weight=0), schemas.Variant(name="all", weight=100)]
    assert {variant_for_bucket(variants, b).name for b in range(BUCKETS)} == {"all"}


def test_bucket_outside_ranges_is_an_error() -> None:
    with pytest.raises(ValueError, match="sum to 100"):
        variant_for_bucket([schemas.Variant(name="a", weight=40)], 55)


def test_traffic_bucket_independent_of_variant_bucket() -> None:
    inside = [u for u in USERS if traffic_bucket("t", u) < 50]
    share_low = sum(bucket("t", u) < 50 for u in inside) / len(inside)
    assert 0.45 < share_low < 0.55

"""The Redis key schema and codecs."""

from __future__ import annotations

import numpy as np
import pytest

from sparrow.redis_keys import (
    RedisKeys,
    decode_matrix,
    decode_record,
    decode_similar,
    decode_vector,
    encode_matrix,
    encode_record,
    encode_similar,
    encode_vector,
)


def test_keys_are_prefixed_and_versioned() -> None:
    keys = RedisKeys("t:")
    assert keys.movie("v1", 5) == "t:movie:v1:5"
    assert keys.sim("v1", "item2vec", 5) == "t:sim:v1:item2vec:5"
    assert keys.uemb("v1", "user_item2vec", 7) == "t:uemb:v1:user_item2vec:7"
    assert keys.rt_history(7) == "t:rt:user:7:history"
    # the deletion pattern of a version matches its keys and not another version's or nearline keys
    import fnmatch

    pattern = keys.version_pattern("v1")
    assert fnmatch.fnmatch(keys.movie("v1", 5), pattern)
    assert fnmatch.fnmatch(keys.emb("v1", "als_item"), pattern)
    assert not fnmatch.fnmatch(keys.movie("v2", 5), pattern)
    assert not fnmatch.fnmatch(keys.rt_history(5), pattern)


def test_matrix_roundtrip() -> None:
    ids = np.array([3, 1, 2], dtype=np.int64)
    mat = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    got_ids, got = decode_matrix(encode_matrix(ids, mat))
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(got, mat)
    with pytest.raises(ValueError):
        encode_matrix(ids, mat[:2])
    with pytest.raises(ValueError):
        decode_matrix(b"XXXX" + bytes(8))


def test_vector_record_and_similar_roundtrip() -> None:
    vec = np.array([0.5, -1.25], dtype=np.float32)
    np.testing.assert_array_equal(decode_vector(encode_vector(vec)), vec)
    raw = encode_record({"movieId": np.int64(3), "title": "Heat (1995)", "genres": ["Action"], "avgRating": 4.5,
                         "tmdbId": None})
    assert "tmdbId" not in raw
    back = decode_record({k.encode(): v.encode() for k, v in raw.items()},
                         {"movieId": int, "title": str, "genres": list, "avgRating": float})
    assert back == {"movieId": 3, "title": "Heat (1995)", "genres": ["Action"], "avgRating": 4.5}
    assert decode_similar(encode_similar([4, 5], [0.9, 0.1])) == ([4, 5], [0.9, 0.1])

"""The Redis key schema and value codecs: the one module that spells a Redis key.

Versioned keys (``{v}`` = bundle version) are written by ``sparrow offline publish`` and
switched live by one ``SET current``; nearline state that must survive a publish is
unversioned. Every key lives under a configurable prefix (default ``sparrow:``).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_MATRIX_HEADER = struct.Struct("<4sII")  # magic, rows, dim
_MATRIX_MAGIC = b"SPM1"

EVENTS_STREAM_MAXLEN = 1_000_000
RT_HISTORY_MAX = 50


class RedisKeys:
    """Builds every key of the schema. Instantiate with the configured prefix."""

    def __init__(self, prefix: str = "sparrow:") -> None:
        self.prefix = prefix

    # --- version pointer and bookkeeping -------------------------------------------------------
    def current(self) -> str:
        """Name of the live version."""
        return f"{self.prefix}current"

    def versions(self) -> str:
        """Sorted set of fully loaded versions (score = load time)."""
        return f"{self.prefix}versions"

    def loading(self) -> str:
        """Sorted set of versions whose load has started (score = start time); a version still here
        but not in :meth:`versions` was abandoned by a killed publish and may be deleted."""
        return f"{self.prefix}loading"

    def manifest(self, v: str) -> str:
        """The bundle manifest (JSON) of version ``v``; written last, so its presence means complete."""
        return f"{self.prefix}manifest:{v}"

    def version_pattern(self, v: str) -> str:
        """SCAN pattern matching every versioned key of ``v`` (for deleting old versions)."""
        return f"{self.prefix}*:{v}:*"

    # --- versioned data --------------------------------------------------------------------------
    def movie(self, v: str, movie_id: int) -> str:
        return f"{self.prefix}movie:{v}:{movie_id}"

    def movies_blob(self, v: str) -> str:
        """The whole movies table as Parquet bytes, for loading the catalogue in one GET."""
        return f"{self.prefix}movies:{v}:all"

    def user(self, v: str, user_id: int) -> str:
        return f"{self.prefix}user:{v}:{user_id}"

    def emb(self, v: str, name: str) -> str:
        """One blob holding ids + float32 matrix of an embedding (see :func:`encode_matrix`)."""
        return f"{self.prefix}emb:{v}:{name}"

    def uemb(self, v: str, name: str, user_id: int) -> str:
        """One user's vector of user embedding ``name`` as float32 bytes."""
        return f"{self.prefix}uemb:{v}:{name}:{user_id}"

    def sim(self, v: str, name: str, movie_id: int) -> str:
        """Similar list ``name`` of a movie (JSON ``{"ids": [...], "scores": [...]}``)."""
        return f"{self.prefix}sim:{v}:{name}:{movie_id}"

    # --- unversioned nearline state ------------------------------------------------------------
    def rt_history(self, user_id: int) -> str:
        """Capped list of the user's recent real-time positives, newest first."""
        return f"{self.prefix}rt:user:{user_id}:history"

    def rt_emb(self, user_id: int) -> str:
        """Hash ``{embedding name: float32 bytes}`` of the user's real-time embeddings."""
        return f"{self.prefix}rt:user:{user_id}:emb"

    def events(self) -> str:
        """Stream of rating/click events; the next offline run ingests it with ``--include-events``."""
        return f"{self.prefix}events"

    def ab(self, experiment: str, variant: str, metric: str) -> str:
        """A/B counter (``metric`` is ``exposures`` or ``clicks``)."""
        return f"{self.prefix}ab:{experiment}:{variant}:{metric}"

    def ab_pattern(self, experiment: str) -> str:
        return f"{self.prefix}ab:{experiment}:*"

    def ab_exposed(self, experiment: str, user_id: int) -> str:
        """Hash ``{movieId: variant or team}`` of the user's latest exposure in an experiment (TTL'd),
        so a later click is credited to the variant/team that showed that movie, on any replica."""
        return f"{self.prefix}ab:{experiment}:_exposed:{user_id}"

    def explore(self, metric: str) -> str:
        """Hash ``{movieId: count}`` of the exploration policy (``metric`` is ``exposures`` or ``clicks``)."""
        return f"{self.prefix}explore:{metric}"

    def experiments_config(self) -> str:
        """Experiment configuration (JSON) set by ``PUT /admin/experiments``; shared by all replicas."""
        return f"{self.prefix}experiments:config"


# --- value codecs ---------------------------------------------------------------------------------


def encode_matrix(ids: Sequence[int] | np.ndarray, matrix: np.ndarray) -> bytes:
    """Pack ids (int64) and a float32 matrix into one blob: header, ids, row-major values."""
    ids_arr = np.asarray(ids, dtype="<i8")
    mat = np.ascontiguousarray(matrix, dtype="<f4")
    if mat.ndim != 2 or mat.shape[0] != ids_arr.shape[0]:
        raise ValueError(f"matrix shape {mat.shape} does not match {ids_arr.shape[0]} ids")
    return _MATRIX_HEADER.pack(_MATRIX_MAGIC, mat.shape[0], mat.shape[1]) + ids_arr.tobytes() + mat.tobytes()


def decode_matrix(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_matrix`: ``(ids int64[n], matrix float32[n, dim])``."""
    magic, rows, dim = _MATRIX_HEADER.unpack_from(blob, 0)
    if magic != _MATRIX_MAGIC:
        raise ValueError("not an embedding matrix blob")
    off = _MATRIX_HEADER.size
    ids = np.frombuffer(blob, dtype="<i8", count=rows, offset=off)
    mat = np.frombuffer(blob, dtype="<f4", count=rows * dim, offset=off + 8 * rows).reshape(rows, dim)
    return ids.astype(np.int64), mat.astype(np.float32)


def encode_vector(vec: np.ndarray) -> bytes:
    return np.asarray(vec, dtype="<f4").tobytes()


def decode_vector(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def encode_record(record: Mapping[str, Any]) -> dict[str, str]:
    """A movie/user row as a Redis hash: scalars as text, lists and dicts as JSON."""
    out: dict[str, str] = {}
    for key, value in record.items():
        if value is None:
            continue
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if isinstance(value, (list, tuple, dict)):
            out[key] = json.dumps(value, default=_json_default)
        elif isinstance(value, (np.integer, np.floating)):
            out[key] = str(value.item())
        else:
            out[key] = str(value)
    return out


def decode_record(raw: Mapping[bytes | str, bytes | str], schema: Mapping[str, type]) -> dict[str, Any]:
    """Inverse of :func:`encode_record` for the fields named in ``schema`` (field -> python type)."""
    text = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()}
    out: dict[str, Any] = {}
    for field, kind in schema.items():
        if field not in text:
            continue
        value = text[field]
        if kind is list or kind is dict:
            out[field] = json.loads(value)
        elif kind is int:
            out[field] = int(float(value))
        elif kind is float:
            out[field] = float(value)
        else:
            out[field] = value
    return out


def encode_similar(ids: Sequence[int], scores: Sequence[float]) -> str:
    return json.dumps({"ids": [int(i) for i in ids], "scores": [round(float(s), 6) for s in scores]})


def decode_similar(raw: bytes | str) -> tuple[list[int], list[float]]:
    data = json.loads(raw)
    return [int(i) for i in data["ids"]], [float(s) for s in data["scores"]]


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot encode {type(value).__name__}")

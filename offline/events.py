"""Nearline events -> ratings for the next offline run (``--include-events``).

The online side appends rating/click events either to the Redis stream ``RedisKeys.events()``
or, with the FileStore, to ``<artifacts>/events.jsonl`` (one JSON object a line; fields
``type, userId, movieId, rating, timestamp``). Only ``type == "rating"`` events become
ratings. They are handed to ingest as raw rows, so they pass the same validation as the CSV
(bad ones are quarantined under the file name ``events``), and ingest's de-duplication
(same userId+movieId -> latest; the same event twice -> one row) means each event counts
exactly once however often the stream is re-read by later runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from offline.ingest import EVENTS_SOURCE
from sparrow.bundle import EVENTS_FILE
from sparrow.redis_keys import RedisKeys

RATING_FIELDS = ("userId", "movieId", "rating", "timestamp")
_BATCH = 10_000
_MS_THRESHOLD = 100_000_000_000  # a timestamp above this is in milliseconds


class EventsError(RuntimeError):
    """The events source cannot be read (e.g. Redis is down)."""


def read_file_events(artifacts: Path) -> list[str]:
    """Lines of ``<artifacts>/events.jsonl`` (empty when the file does not exist)."""
    path = Path(artifacts) / EVENTS_FILE
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [line.rstrip("\n") for line in fh if line.strip()]


def read_redis_events(redis_url: str, prefix: str = "sparrow:", timeout_s: float = 5.0) -> list[str]:
    """Every entry of the events stream as a JSON line (read in batches with XRANGE)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    key = RedisKeys(prefix).events()
    lines: list[str] = []
    start = "-"
    try:
        while True:
            batch = client.xrange(key, min=start, max="+", count=_BATCH)
            for _entry_id, fields in batch:
                decoded = {_text(k): _text(v) for k, v in fields.items()}
                lines.append(json.dumps(decoded, sort_keys=True))
            if len(batch) < _BATCH:
                break
            start = "(" + _text(batch[-1][0])  # exclusive start after the last id
    except redis.RedisError as exc:
        raise EventsError(f"cannot read events from {redis_url}: {exc}") from exc
    finally:
        client.close()
    return lines


def collect_events(artifacts: Path | None, redis_url: str | None, prefix: str = "sparrow:") -> list[str]:
    """Events from the Redis stream (when ``redis_url``) and the FileStore's JSONL (when present)."""
    lines: list[str] = []
    if redis_url:
        lines.extend(read_redis_events(redis_url, prefix))
    if artifacts is not None:
        lines.extend(read_file_events(artifacts))
    return lines


def rating_rows(lines: list[str]) -> list[tuple[Any, ...]]:
    """Raw ingest rows ``(file, row, line, ncols, c0..c3)`` for the rating events among ``lines``.

    Non-rating events (clicks) are skipped; a line that is not a JSON object becomes a row with
    ``ncols = 0`` so ingest quarantines it as ``wrong_column_count``.
    """
    rows: list[tuple[Any, ...]] = []
    for number, line in enumerate(lines, start=1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            rows.append((EVENTS_SOURCE, number, line, 0, None, None, None, None))
            continue
        if not isinstance(event, dict):
            rows.append((EVENTS_SOURCE, number, line, 0, None, None, None, None))
            continue
        if str(event.get("type", "rating")) != "rating":
            continue
        values = [None if event.get(f) is None else str(event[f]).strip() for f in RATING_FIELDS]
        ts = values[3]
        if ts is not None and ts.isdigit() and int(ts) > _MS_THRESHOLD:
            values[3] = str(int(ts) // 1000)
        # ints sent as floats ("12.0") are still valid ids
        for i in (0, 1):
            v = values[i]
            if v is not None and v.endswith(".0") and v[:-2].isdigit():
                values[i] = v[:-2]
        ncols = sum(1 for f in RATING_FIELDS if f in event)
        rows.append((EVENTS_SOURCE, number, line, ncols, *values))
    return rows


def events_frame(spark: SparkSession, lines: list[str]) -> DataFrame:
    """Rating events as a DataFrame in ingest's raw-row layout (see :func:`offline.ingest.classify_ratings`)."""
    schema = StructType(
        [
            StructField("file", StringType()),
            StructField("row", LongType()),
            StructField("line", StringType()),
            StructField("ncols", LongType()),
            *[StructField(f"c{i}", StringType()) for i in range(4)],
        ]
    )
    return spark.createDataFrame(rating_rows(lines), schema=schema).withColumn("ncols", F.col("ncols").cast("int"))


def events_digest(lines: list[str]) -> str:
    """sha256 over the sorted event lines: part of the data hash, so new events mean a new version."""
    digest = hashlib.sha256()
    for line in sorted(lines):
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

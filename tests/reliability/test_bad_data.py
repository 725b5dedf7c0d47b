"""Dirty MovieLens CSVs: every bad row is quarantined with its line number, nothing is silently dropped.

The ingest step of the real pipeline (``run_step(ctx, "ingest")``) reads a copy of the synthetic
data into which malformed rows, wrong column counts, duplicates, huge fields, blank lines and
non-UTF-8 bytes were written. Promises checked on what the step writes (the quarantine Parquet
report and the step summary): each planted bad line is in the quarantine with its 1-based line
number and the right reason; for every file, rows read == valid + quarantined (so nothing vanished);
the clean rows go on to the next step. When nothing valid is left, the run stops with a message
naming the file.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]

HUGE = 200_000  # characters in one field
ANY = "*"  # quarantined, for whichever reason comes first


def _append(path: Path, lines: list[bytes]) -> list[int]:
    """Append raw byte lines; return the 1-based line number of each."""
    first = path.read_bytes().count(b"\n") + 1
    with open(path, "ab") as fh:
        fh.write(b"\n".join(lines) + b"\n")
    return list(range(first, first + len(lines)))


def _planted_ratings(user: int, movie: int, rating: str, ts: int) -> list[tuple[bytes, str]]:
    """(raw line, reason) for ratings.csv; ``user,movie`` is an existing clean rating."""
    return [
        (b"1,2,4.0", "wrong_column_count"),
        (b"1,2,4.0,964982703,extra,columns", "wrong_column_count"),
        (b"", "wrong_column_count"),  # a blank line is a row too: counted, not skipped
        (b'1,"2,4.0,964982703', ANY),  # an unbalanced quote: some reason, but quarantined
        (b"\xff\xfe1,2,4.0,964982703", "bad_id"),  # not UTF-8
        (b"1,\xe9\xe8,4.0,964982703", "bad_id"),  # latin-1 bytes in an id
        (b"9" * HUGE + b",2,4.0,964982703", "bad_id"),  # a huge id
        (b"1,2,4.0," + b"7" * HUGE, "bad_timestamp"),  # a huge timestamp
        (b"1,2," + b"4" * HUGE + b",964982703", "bad_rating"),  # a huge rating
        (b"-3,2,4.0,964982703", "bad_id"),
        (b"1,2,NaN,964982703", "bad_rating"),
        (b"1,2,5.5,964982703", "bad_rating"),
        (b"1,2,4.0,2023-01-01", "bad_timestamp"),
        (b"1,987654,4.0,964982703", "unknown_movie"),
        # the same user-movie pair again, earlier in time: the original (later) row is kept
        (f"{user},{movie},{rating},{ts - 100}".encode(), "duplicate"),
    ]


def _planted_movies() -> list[tuple[bytes, str | None]]:
    """(raw line, reason or None when the row is valid) for movies.csv."""
    return [
        (b"abc,Some Movie (1999),Drama", "bad_id"),
        (b"100001,,Drama", "missing_title"),
        (b"100002,Only Two Columns (1999)", "wrong_column_count"),
        (b"100003,A,B,C,D", "wrong_column_count"),
        (b"1,Duplicate Of Movie One (2001),Comedy", "duplicate"),
        (b"", "wrong_column_count"),
        # valid but hostile: latin-1 bytes (decoded with a replacement char) and a huge title
        (b"100004,Caf\xe9 Society (2016),Comedy", None),
        (b"100005," + b"T" * HUGE + b" (2001),Drama", None),
    ]


@pytest.fixture
def dirty_data(tmp_path: Path, synthetic_data: Path) -> tuple[Path, dict[str, dict[int, str | None]]]:
    """A copy of the synthetic data with planted rows; {file: {line number: expected reason}}."""
    data = tmp_path / "dirty"
    shutil.copytree(synthetic_data, data)
    first = (data / "ratings.csv").read_text().splitlines()[1].split(",")
    ratings = _planted_ratings(int(first[0]), int(first[1]), first[2], int(first[3]))
    movies = _planted_movies()
    planted: dict[str, dict[int, str | None]] = {
        "ratings.csv": dict(zip(_append(data / "ratings.csv", [line for line, _ in ratings]),
                                [r for _, r in ratings], strict=True)),
        "movies.csv": dict(zip(_append(data / "movies.csv", [line for line, _ in movies]),
                               [r for _, r in movies], strict=True)),
    }
    # the duplicate's victim is the earlier line: the planted one (ts - 100) is older than the original
    return data, planted


def _run_ingest(spark: Any, data: Path, tmp_path: Path) -> tuple[Any, dict[str, Any]]:
    from offline.pipeline import make_context, run_step

    ctx = make_context(data, tmp_path / "artifacts", spark=spark, work_dir=tmp_path / "work")
    run_step(ctx, "ingest")
    return ctx, ctx.work.read_summary("ingest")


def _data_rows(path: Path) -> int:
    """Data rows of a CSV as Spark's line reader sees them (``\\n``-separated, header excluded)."""
    return path.read_bytes().rstrip(b"\n").count(b"\n")


def test_dirty_csv_rows_are_quarantined_with_line_numbers(spark: Any, dirty_data: Any, tmp_path: Path) -> None:
    data, planted = dirty_data
    ctx, summary = _run_ingest(spark, data, tmp_path)
    quarantine = pd.read_parquet(ctx.work.quarantine)
    counts = summary["row_counts"]
    print(f"\nrow counts: {counts}\nquarantine: {summary['quarantine']}")

    for name in ("ratings.csv", "movies.csv"):
        got = quarantine[quarantine["file"] == name]
        rows = dict(zip(got["row"].astype(int), got["reason"], strict=True))
        assert len(rows) == len(got), f"{name}: a line number is quarantined twice"
        for line, reason in planted[name].items():
            if reason is None:
                assert line not in rows, f"{name}:{line} is valid but was quarantined as {rows.get(line)}"
            elif reason == ANY:
                assert line in rows, f"{name}:{line} is malformed but was not quarantined"
            else:
                assert rows.get(line) == reason, f"{name}:{line} expected {reason}, got {rows.get(line)}"
        # the counts in the summary (what goes into the manifest) match the report rows
        assert summary["quarantine"].get(name, {}) == got["reason"].value_counts().to_dict()

    # nothing silently dropped: read == valid + quarantined, and read == the file's data rows
    q = summary["quarantine"]
    assert counts["ratings_read"] == _data_rows(data / "ratings.csv")
    assert counts["movies_read"] == _data_rows(data / "movies.csv")
    assert counts["ratings"] + sum(q["ratings.csv"].values()) == counts["ratings_read"]
    assert counts["movies"] + sum(q["movies.csv"].values()) == counts["movies_read"]
    # and the clean rows went on: the ratings Parquet holds exactly the valid ones
    assert len(pd.read_parquet(ctx.work.ratings)) == counts["ratings"]
    movies = pd.read_parquet(ctx.work.movies)
    assert len(movies) == counts["movies"]
    titles = dict(zip(movies["movieId"], movies["title"], strict=True))
    assert titles[100005] == "T" * HUGE and titles[100004].startswith("Caf") and "Society" in titles[100004]


def test_nothing_valid_left_stops_with_a_clear_message(spark: Any, synthetic_data: Path, tmp_path: Path) -> None:
    from offline.ingest import IngestError

    data = tmp_path / "allbad"
    shutil.copytree(synthetic_data, data)
    (data / "ratings.csv").write_bytes(b"userId,movieId,rating,timestamp\nx,1,4.0,1\n1,1,9.0,1\n\xff,\xfe,1,1\n")
    with pytest.raises(IngestError) as info:
        _run_ingest(spark, data, tmp_path)
    message = str(info.value)
    assert "ratings.csv" in message and "no valid rows" in message, message
    assert "3 read" in message, message  # every row was read and accounted for in the message


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("ratings.csv", b"user,movie,stars,when\n1,1,4.0,1\n", "does not match expected"),
        ("movies.csv", b"", "empty"),
        ("ratings.csv", b"userId,movieId,rating,timestamp\n", "no data rows"),
    ],
)
def test_wrong_columns_or_empty_file_is_a_clear_error(
    spark: Any, synthetic_data: Path, tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    from offline.ingest import IngestError

    data = tmp_path / "broken"
    shutil.copytree(synthetic_data, data)
    (data / name).write_bytes(content)
    with pytest.raises(IngestError) as info:
        _run_ingest(spark, data, tmp_path)
    assert name in str(info.value) and expected in str(info.value), str(info.value)

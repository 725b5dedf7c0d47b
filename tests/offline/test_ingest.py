"""offline.ingest: declared schema, quarantine with reasons and source line numbers, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from offline.ingest import EVENTS_SOURCE, IngestError, check_inputs, duplicate_rows, ingest, latest_per_pair

pytestmark = pytest.mark.spark

BAD_RATINGS = [
    ("abc,1,4.0,964982703", "bad_id"),
    ("1,2,7.0,964982703", "bad_rating"),
    ("1,3,3.7,964982703", "bad_rating"),
    ("1,4,,964982703", "bad_rating"),
    ("1,5,4.0,notatime", "bad_timestamp"),
    ("1,6,4.0", "wrong_column_count"),
    ("1,7,4.0,964982703,extra", "wrong_column_count"),
    ("1,999999,4.0,964982703", "unknown_movie"),
]


@pytest.fixture
def data_copy(tmp_path: Path, synthetic_data: Path) -> Path:
    out = tmp_path / "data"
    shutil.copytree(synthetic_data, out)
    return out


def _append(path: Path, lines: list[str]) -> int:
    """Append lines; return the 1-based line number of the first appended line."""
    first = len(path.read_text().splitlines()) + 1
    with open(path, "a") as fh:
        fh.write("\n".join(lines) + "\n")
    return first


def test_quarantine_counts_reasons_and_row_numbers(spark, data_copy: Path) -> None:  # type: ignore[no-untyped-def]
    ratings_csv = data_copy / "ratings.csv"
    clean_rows = len(ratings_csv.read_text().splitlines()) - 1
    # an exact copy of a user's rating at a later time: the later one is kept, the earlier quarantined
    user, movie, rating, ts = ratings_csv.read_text().splitlines()[1].split(",")
    bad_lines = [line for line, _ in BAD_RATINGS] + [f"{user},{movie},0.5,{int(ts) + 10}"]
    first = _append(ratings_csv, bad_lines)
    _append(data_copy / "movies.csv", ['x1,"Broken, The (1999)",Drama', '1,"Again (2000)",Drama'])

    result = ingest(spark, data_copy)

    expected: dict[str, int] = {}
    for _, reason in BAD_RATINGS:
        expected[reason] = expected.get(reason, 0) + 1
    expected["duplicate"] = 1
    assert result.quarantine_counts["ratings.csv"] == expected
    assert result.quarantine_counts["movies.csv"] == {"bad_id": 1, "duplicate": 1}
    assert result.row_counts["ratings_read"] == clean_rows + len(bad_lines)
    assert result.row_counts["ratings"] == clean_rows  # the duplicate replaced the original
    assert result.ratings.count() == clean_rows

    rows = {(r["row"], r["reason"]) for r in result.quarantine.where("file = 'ratings.csv'").collect()}
    for offset, (_, reason) in enumerate(BAD_RATINGS):
        assert (first + offset, reason) in rows
    assert (2, "duplicate") in rows  # the original line 2 lost to the later copy
    kept = result.ratings.where(f"userId = {user} AND movieId = {movie}").collect()
    assert [(r["rating"], r["timestamp"]) for r in kept] == [(0.5, int(ts) + 10)]
    assert all(r["line"] for r in result.quarantine.collect())


def test_parsed_types_titles_and_genres(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "d"
    d.mkdir()
    (d / "movies.csv").write_text(
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,"Postman, The (Postino, Il) (1994)",'
        "Comedy|Drama\n3,Babylon 5,(no genres listed)\n"
    )
    (d / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,10\n1,2,0.5,20\n2,3,5,30\n")
    (d / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0114709,862\n2,0110877,\n")
    result = ingest(spark, d)
    movies = {r["movieId"]: r for r in result.movies.collect()}
    assert movies[1]["title"] == "Toy Story" and movies[1]["year"] == 1995
    assert movies[1]["genres"] == ["Adventure", "Animation"]
    assert movies[2]["title"] == "Postman, The (Postino, Il)" and movies[2]["year"] == 1994
    assert movies[3]["title"] == "Babylon 5" and movies[3]["year"] is None and movies[3]["genres"] == []
    assert movies[1]["imdbId"] == "0114709" and movies[2]["tmdbId"] is None and movies[3]["imdbId"] is None
    assert dict(zip(result.ratings.columns, [t for _, t in result.ratings.dtypes], strict=True)) == {
        "userId": "bigint", "movieId": "bigint", "rating": "float", "timestamp": "bigint"}
    assert result.quarantine_counts == {}


def test_missing_and_empty_files_are_clear_errors(tmp_path: Path, synthetic_data: Path) -> None:
    d = tmp_path / "d"
    shutil.copytree(synthetic_data, d)
    (d / "ratings.csv").unlink()
    with pytest.raises(IngestError, match=r"ratings\.csv: file not found"):
        check_inputs(d)
    (d / "ratings.csv").write_text("")
    with pytest.raises(IngestError, match=r"ratings\.csv: file is empty"):
        check_inputs(d)
    (d / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    with pytest.raises(IngestError, match=r"ratings\.csv: file has a header but no data rows"):
        check_inputs(d)
    (d / "ratings.csv").write_text("user,movie,score\n1,2,3\n")
    with pytest.raises(IngestError, match=r"ratings\.csv: header"):
        check_inputs(d)
    with pytest.raises(IngestError, match="data directory not found"):
        check_inputs(tmp_path / "nowhere")


def test_all_rows_invalid_is_an_error(spark, tmp_path: Path, synthetic_data: Path) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "d"
    shutil.copytree(synthetic_data, d)
    (d / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,9.0,10\nx,1,4.0,10\n")
    with pytest.raises(IngestError, match=r"ratings\.csv: no valid rows left"):
        ingest(spark, d)


@pytest.mark.parametrize("broadcast", [True, False])
def test_duplicates_latest_wins_then_event_then_later_line(spark, broadcast: bool) -> None:  # type: ignore[no-untyped-def]
    rows = [
        ("ratings.csv", 2, 1, 10, 3.0, 100),  # pair (1, 10): a later timestamp wins
        ("ratings.csv", 3, 1, 10, 4.0, 200),
        ("ratings.csv", 4, 1, 11, 3.0, 300),  # pair (1, 11): same time, the nearline event wins
        (EVENTS_SOURCE, 4, 1, 11, 5.0, 300),
        ("ratings.csv", 5, 2, 10, 1.0, 50),  # pair (2, 10): same time, the later line wins
        ("ratings.csv", 6, 2, 10, 2.0, 50),
        ("ratings.csv", 7, 3, 12, 4.5, 70),  # a pair seen once
    ]
    valid = spark.createDataFrame(rows, "file string, row long, userId long, movieId long, rating double, timestamp long")
    winners = latest_per_pair(valid)
    kept = {(r["userId"], r["movieId"]): (r["win"]["rating"], r["n"]) for r in winners.collect()}
    assert kept == {(1, 10): (4.0, 2), (1, 11): (5.0, 2), (2, 10): (2.0, 2), (3, 12): (4.5, 1)}
    lost = {(r["file"], r["row"], r["reason"]) for r in duplicate_rows(valid, winners, broadcast).collect()}
    assert lost == {("ratings.csv", 2, "duplicate"), ("ratings.csv", 4, "duplicate"), ("ratings.csv", 5, "duplicate")}

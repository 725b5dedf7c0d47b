"""offline.fetch against a local file:// archive: verified unpack, mismatch refused, nothing unpacked."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from offline.fetch import DATASETS, FetchError, fetch_dataset
from sparrow.cli import app


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "ml-latest-small.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ml-latest-small/movies.csv", "movieId,title,genres\n1,Toy Story (1995),Comedy\n")
        zf.writestr("ml-latest-small/ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_dataset_is_pinned_or_marked() -> None:
    assert set(DATASETS) == {"ml-latest-small", "ml-1m", "ml-25m", "ml-32m"}
    for dataset in DATASETS.values():
        assert dataset.url.startswith("https://files.grouplens.org/")
        assert dataset.sha256 is None or len(dataset.sha256) == 64


def test_file_url_with_matching_sha256_unpacks(archive: tuple[Path, str], tmp_path: Path) -> None:
    path, sha = archive
    out = tmp_path / "data"
    result = fetch_dataset("ml-latest-small", out, url=path.as_uri(), sha256=sha)
    assert result.path == out / "ml-latest-small"
    assert result.sha256 == sha and result.verified_by == "sha256"
    assert (result.path / "ratings.csv").read_text().startswith("userId,movieId")
    assert sorted(p.name for p in out.iterdir()) == ["ml-latest-small"]  # no temp files left


def test_mismatch_is_refused_and_nothing_unpacked(archive: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = archive
    out = tmp_path / "data"
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch_dataset("ml-latest-small", out, url=path.as_uri(), sha256="0" * 64)
    assert list(out.iterdir()) == []


def test_pinned_md5_is_checked(archive: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = archive  # not the real ml-1m archive, so GroupLens' published md5 cannot match
    with pytest.raises(FetchError, match="md5 mismatch"):
        fetch_dataset("ml-1m", tmp_path / "data", url=path.as_uri())


def test_unpinned_needs_an_explicit_choice(archive: tuple[Path, str], tmp_path: Path) -> None:
    path, sha = archive
    with pytest.raises(FetchError, match="no pinned checksum"):
        fetch_dataset("ml-latest-small", tmp_path / "data", url=path.as_uri())
    result = fetch_dataset("ml-latest-small", tmp_path / "data", url=path.as_uri(), allow_unpinned=True)
    assert result.verified_by == "unpinned" and result.sha256 == sha


def test_missing_source_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="cannot download"):
        fetch_dataset("ml-latest-small", tmp_path, url=(tmp_path / "nope.zip").as_uri(), sha256="0" * 64)
    with pytest.raises(FetchError, match="unknown dataset"):
        fetch_dataset("ml-999", tmp_path)


def test_cli_mismatch_is_one_line_exit_1(archive: tuple[Path, str], tmp_path: Path) -> None:
    path, sha = archive
    runner = CliRunner()
    bad = runner.invoke(app, ["data", "fetch", "ml-latest-small", "--out", str(tmp_path / "d"),
                              "--url", path.as_uri(), "--sha256", "f" * 64])
    assert bad.exit_code == 1
    assert "sha256 mismatch" in bad.output and "Traceback" not in bad.output
    good = runner.invoke(app, ["data", "fetch", "ml-latest-small", "--out", str(tmp_path / "d"),
                               "--url", path.as_uri(), "--sha256", sha])
    assert good.exit_code == 0, good.output
    assert (tmp_path / "d" / "ml-latest-small" / "movies.csv").is_file()

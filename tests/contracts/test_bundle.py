"""The bundle contract: atomic write, current pointer, checksums, pruning."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparrow import bundle as B


def _write(artifacts: Path, version: str, payload: bytes = b"x", make_current: bool = True) -> B.Bundle:
    with B.write_bundle(artifacts, version) as writer:
        writer.movies_path.write_bytes(payload)
        writer.embedding_path("item2vec").write_bytes(b"vectors")
        writer.manifest["embeddings"]["item2vec"] = {"dim": 2, "count": 1}
        return writer.commit(make_current=make_current)


def test_commit_renames_checksums_and_points_current(tmp_path: Path) -> None:
    bundle = _write(tmp_path, "v1")
    assert bundle.path == tmp_path / "v1"
    assert B.read_current(tmp_path) == "v1"
    assert set(bundle.manifest["files"]) == {"movies.parquet", "embeddings/item2vec.parquet"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(B.TMP_PREFIX)]
    reopened = B.open_bundle(tmp_path)
    assert reopened.version == "v1" and reopened.embeddings() == ["item2vec"]


def test_failure_inside_block_leaves_nothing(tmp_path: Path) -> None:
    _write(tmp_path, "v1")
    with pytest.raises(RuntimeError), B.write_bundle(tmp_path, "v2") as writer:
        writer.movies_path.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert B.list_versions(tmp_path) == ["v1"]
    assert B.read_current(tmp_path) == "v1"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(B.TMP_PREFIX)]


def test_block_without_commit_is_discarded(tmp_path: Path) -> None:
    with B.write_bundle(tmp_path, "v1") as writer:
        writer.movies_path.write_bytes(b"x")
    assert B.list_versions(tmp_path) == []
    assert B.read_current(tmp_path) is None


def test_corrupted_or_missing_file_is_refused(tmp_path: Path) -> None:
    bundle = _write(tmp_path, "v1")
    bundle.movies_path.write_bytes(b"tampered")
    with pytest.raises(B.BundleError, match="checksum mismatch for movies.parquet"):
        B.open_bundle(tmp_path)
    bundle.movies_path.unlink()
    with pytest.raises(B.BundleError, match="missing file movies.parquet"):
        B.open_bundle(tmp_path)


def test_no_current_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(B.BundleError, match="no bundle published"):
        B.open_bundle(tmp_path)


def test_set_current_refuses_incomplete_version(tmp_path: Path) -> None:
    (tmp_path / "v9").mkdir()
    with pytest.raises(B.BundleError):
        B.set_current(tmp_path, "v9")


def test_prune_keeps_newest_and_current(tmp_path: Path) -> None:
    for v in ("v1", "v2", "v3", "v4"):
        _write(tmp_path, v, make_current=False)
    B.set_current(tmp_path, "v1")
    deleted = B.prune_versions(tmp_path, keep=2)
    assert deleted == ["v2"]
    assert B.list_versions(tmp_path) == ["v1", "v3", "v4"]


def test_versions_sort_by_time_and_carry_data_hash() -> None:
    from datetime import datetime, timezone

    a = B.new_version("abcdef0123", datetime(2026, 1, 1, tzinfo=timezone.utc))
    b = B.new_version("00ff", datetime(2026, 1, 2, tzinfo=timezone.utc))
    assert a < b and a.endswith("-abcdef01")

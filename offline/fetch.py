"""``sparrow data fetch``: download a MovieLens zip, verify its pinned checksum, unpack it.

The download is streamed to a temporary file while its sha256 (and md5) are computed; on a
mismatch the file is deleted and nothing is unpacked. ``file://`` URLs work, which is how the
tests (and offline mirrors) use it.

Checksums: GroupLens publishes an ``.md5`` file next to each zip, and those published MD5s are
pinned here where known. sha256 values are pinned only where they were measured; ``None``
means *not yet pinned* (see data/README.md) — such a download is refused unless the caller
passes ``--sha256`` or ``--allow-unpinned`` (which prints the sha256 to pin).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_BASE = "https://files.grouplens.org/datasets/movielens"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Dataset:
    """A pinned MovieLens archive."""

    name: str
    url: str
    sha256: str | None  # None = not pinned yet (unknown when this was written)
    md5: str | None  # GroupLens' published <zip>.md5


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("ml-latest-small", f"{_BASE}/ml-latest-small.zip", sha256=None, md5=None),
        Dataset("ml-1m", f"{_BASE}/ml-1m.zip", sha256=None, md5="c4d9eecfca2ab87c1945afe126590906"),
        Dataset("ml-25m", f"{_BASE}/ml-25m.zip", sha256=None, md5="6b51fb2759a8657d3bfcbfc42b592ada"),
        Dataset("ml-32m", f"{_BASE}/ml-32m.zip", sha256=None, md5=None),
    )
}


class FetchError(RuntimeError):
    """Download failed, checksum mismatch, or an unpinned archive without an explicit checksum."""


@dataclass(frozen=True)
class FetchResult:
    path: Path  # the unpacked dataset directory
    sha256: str
    verified_by: str  # "sha256", "md5" or "unpinned"


def fetch_dataset(
    name: str,
    out: Path,
    url: str | None = None,
    sha256: str | None = None,
    allow_unpinned: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
) -> FetchResult:
    """Download ``name`` (or ``url``), verify it and unpack it under ``out``; return the dataset dir.

    ``sha256`` overrides the pinned value (tests build their own zip; mirrors may repackage).
    """
    if name not in DATASETS:
        raise FetchError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    dataset = DATASETS[name]
    expected_sha = (sha256 or dataset.sha256 or "").lower() or None
    expected_md5 = dataset.md5 if sha256 is None else None
    if expected_sha is None and expected_md5 is None and not allow_unpinned:
        raise FetchError(
            f"{name} has no pinned checksum yet: pass --sha256 HEX, or --allow-unpinned to download it "
            "and print the sha256 to pin"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    source = url or dataset.url
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}-", suffix=".zip", dir=out)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as sink:
            got_sha, got_md5 = _download(source, sink, progress)
        if expected_sha is not None and got_sha != expected_sha:
            raise FetchError(f"{source}: sha256 mismatch (expected {expected_sha}, got {got_sha}); nothing unpacked")
        if expected_sha is None and expected_md5 is not None and got_md5 != expected_md5:
            raise FetchError(f"{source}: md5 mismatch (expected {expected_md5}, got {got_md5}); nothing unpacked")
        target = _unpack(tmp, out, name)
    finally:
        tmp.unlink(missing_ok=True)
    verified = "sha256" if expected_sha else ("md5" if expected_md5 else "unpinned")
    return FetchResult(path=target, sha256=got_sha, verified_by=verified)


def _download(url: str, sink, progress: Callable[[int, int | None], None] | None) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    sha = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    done = 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (file:// is a feature)
            total = response.headers.get("Content-Length")
            size = int(total) if total and total.isdigit() else None
            while block := response.read(_CHUNK):
                sha.update(block)
                md5.update(block)
                sink.write(block)
                done += len(block)
                if progress:
                    progress(done, size)
    except OSError as exc:  # URLError, HTTPError, missing file:// path
        raise FetchError(f"cannot download {url}: {exc}") from exc
    return sha.hexdigest(), md5.hexdigest()


def _unpack(archive: Path, out: Path, name: str) -> Path:
    """Extract into a temp dir then rename, so a failed unzip never leaves a half dataset."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"downloaded file for {name} is not a zip archive") from exc
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-unzip-", dir=out))
    try:
        with zf:
            for member in zf.namelist():  # refuse path traversal
                if member.startswith("/") or ".." in Path(member).parts:
                    raise FetchError(f"refusing unsafe path {member!r} in {name} archive")
            zf.extractall(staging)
        entries = [p for p in staging.iterdir() if not p.name.startswith("__MACOSX")]
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        target = out / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(root, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target

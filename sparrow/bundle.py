"""The artifact bundle contract: the one module that spells bundle paths and manifest keys.

A bundle is ``<artifacts>/<version>/`` (version = UTC timestamp + short data hash). It is
written under a temporary name and renamed when complete; ``<artifacts>/current`` is a small
text file naming the live version, replaced atomically with ``os.replace``. The offline side
writes bundles with :class:`BundleWriter`; the online side opens them with :class:`Bundle`,
which refuses a bundle whose files are missing or whose checksums do not match.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
MOVIES = "movies.parquet"
USERS = "users.parquet"
EMBEDDINGS_DIR = "embeddings"
SIMILAR_DIR = "similar"
MODELS_DIR = "models"
REPORT_DIR = "report"
CURRENT = "current"
TMP_PREFIX = ".tmp-"
# Nearline events appended by the FileStore (one JSON object a line); the next offline run ingests it.
EVENTS_FILE = "events.jsonl"

# Item embeddings the offline side can produce, and the similar-list names built from them.
ITEM_EMBEDDINGS = ("item2vec", "deepwalk", "node2vec", "als_item")
# the two-tower model's directory under models/ and its towers' sub-directories (each a SavedModel)
TWO_TOWER_MODEL = "two_tower"
USER_TOWER = "user_tower"
ITEM_TOWER = "item_tower"
# NeuralCF user-tower vectors of every user's offline snapshot, computed by the models step so a
# request only runs the tower when nearline ratings changed the user's features
TWO_TOWER_USER = "two_tower_user"
USER_EMBEDDINGS = ("als_user",)  # user factors the embeddings step learns directly; others derived below
MODEL_USER_EMBEDDINGS = (TWO_TOWER_USER,)  # user vectors the models step writes
# "itemcf": item-based collaborative filtering (cosine of items over users' training positives),
# built from ratings rather than an embedding; "genre": shared genres (covers cold movies).
ITEMCF_LIST = "itemcf"
GENRE_LIST = "genre"
SIMILAR_LISTS = ("item2vec", "deepwalk", "node2vec", "als", ITEMCF_LIST, GENRE_LIST)
SIMILAR_TOP_K = 50
RECENT_POSITIVES_MAX = 50


def user_embedding_name(item_embedding: str) -> str:
    """Name of the user embedding derived as the mean of ``item_embedding`` vectors of recent positives."""
    return f"user_{item_embedding}"


def is_user_embedding(name: str) -> bool:
    """True for embeddings keyed by userId (learned user vectors or means of item vectors)."""
    return name in USER_EMBEDDINGS or name in MODEL_USER_EMBEDDINGS or name.startswith(user_embedding_name(""))


def similar_list_for_embedding(item_embedding: str) -> str:
    """The similar-list name built from an item embedding (``als_item`` -> ``als``)."""
    return "als" if item_embedding == "als_item" else item_embedding


class BundleError(RuntimeError):
    """A bundle is missing, incomplete or corrupted."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def new_version(data_sha256: str, now: datetime | None = None) -> str:
    """A sortable version name: UTC timestamp (with microseconds, so two runs never collide) + data hash."""
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{data_sha256[:8]}"


def read_current(artifacts: Path) -> str | None:
    """The live version named by ``<artifacts>/current``, or None when nothing was published."""
    pointer = Path(artifacts) / CURRENT
    try:
        text = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    return text or None


def set_current(artifacts: Path, version: str) -> None:
    """Point ``current`` at ``version`` atomically (write a temp file, then ``os.replace``)."""
    artifacts = Path(artifacts)
    if not (artifacts / version / MANIFEST).is_file():
        raise BundleError(f"cannot point current at {version}: no complete bundle at {artifacts / version}")
    tmp = artifacts / f"{TMP_PREFIX}{CURRENT}-{os.getpid()}"
    tmp.write_text(version + "\n")
    os.replace(tmp, artifacts / CURRENT)


def list_versions(artifacts: Path) -> list[str]:
    """Complete bundle versions under ``artifacts``, oldest first."""
    artifacts = Path(artifacts)
    if not artifacts.is_dir():
        return []
    return sorted(
        p.name for p in artifacts.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file()
    )


def prune_versions(artifacts: Path, keep: int = 2) -> list[str]:
    """Delete all but the newest ``keep`` bundles (never the current one); return what was deleted."""
    current = read_current(artifacts)
    versions = list_versions(artifacts)
    doomed = [v for v in versions[:-keep] if v != current] if keep > 0 else []
    for version in doomed:
        shutil.rmtree(Path(artifacts) / version, ignore_errors=True)
    return doomed


@dataclass(frozen=True)
class Bundle:
    """A complete bundle directory, read-only. Paths come from here, never spelled by callers."""

    path: Path
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def movies_path(self) -> Path:
        return self.path / MOVIES

    @property
    def users_path(self) -> Path:
        return self.path / USERS

    @property
    def report_dir(self) -> Path:
        return self.path / REPORT_DIR

    def embedding_path(self, name: str) -> Path:
        return self.path / EMBEDDINGS_DIR / f"{name}.parquet"

    def similar_path(self, name: str) -> Path:
        return self.path / SIMILAR_DIR / f"{name}.parquet"

    def model_dir(self, name: str) -> Path:
        return self.path / MODELS_DIR / name

    def embeddings(self) -> list[str]:
        """Embedding names present in this bundle."""
        return sorted(self.manifest.get("embeddings", {}))

    def similar_lists(self) -> list[str]:
        return sorted(self.manifest.get("similar", {}))

    def models(self) -> list[str]:
        """Ranking models present in this bundle (each a SavedModel directory)."""
        return sorted(self.manifest.get("models", {}))

    def feature_spec(self, model: str) -> list[dict[str, Any]]:
        """The recorded serving inputs of ``model``: ``[{name, dtype, shape}]``."""
        return list(self.manifest["models"][model]["feature_spec"])

    def verify(self) -> None:
        """Raise :class:`BundleError` when a listed file is missing or its sha256 differs."""
        for rel, expected in self.manifest.get("files", {}).items():
            file = self.path / rel
            if not file.is_file():
                raise BundleError(f"bundle {self.version}: missing file {rel}")
            actual = sha256_file(file)
            if actual != expected:
                raise BundleError(f"bundle {self.version}: checksum mismatch for {rel}")


def open_bundle(artifacts: Path, version: str | None = None, verify: bool = True) -> Bundle:
    """Open ``version`` (default: ``current``) under ``artifacts``; verify checksums unless told not to."""
    artifacts = Path(artifacts)
    version = version or read_current(artifacts)
    if version is None:
        raise BundleError(f"no bundle published under {artifacts} (no '{CURRENT}' file); run `sparrow offline run`")
    path = artifacts / version
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        raise BundleError(f"bundle {version} is incomplete: {manifest_file} is missing")
    try:
        manifest = json.loads(manifest_file.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"bundle {version}: manifest is not valid JSON ({exc})") from exc
    bundle = Bundle(path=path, manifest=manifest)
    if verify:
        bundle.verify()
    return bundle


class BundleWriter:
    """Builds a bundle in a temporary directory; :meth:`commit` checksums it and renames it into place.

    Use through :func:`write_bundle`. Nothing under ``<artifacts>/<version>`` exists until the
    whole bundle is on disk, so a crash mid-write never leaves a half bundle that looks complete.
    """

    def __init__(self, artifacts: Path, version: str) -> None:
        self.artifacts = Path(artifacts)
        self.version = version
        self.tmp = self.artifacts / f"{TMP_PREFIX}{version}-{os.getpid()}"
        self.manifest: dict[str, Any] = {
            "version": version,
            "created_at": datetime.now(timezone.utc).isoformat(),
            "source": {},
            "row_counts": {},
            "params": {},
            "metrics": {},
            "embeddings": {},
            "similar": {},
            "models": {},
            "quarantine": {},
            "files": {},
        }
        self.tmp.mkdir(parents=True, exist_ok=False)

    # Paths inside the temporary directory, mirroring Bundle's.
    @property
    def movies_path(self) -> Path:
        return self.tmp / MOVIES

    @property
    def users_path(self) -> Path:
        return self.tmp / USERS

    @property
    def report_dir(self) -> Path:
        (self.tmp / REPORT_DIR).mkdir(exist_ok=True)
        return self.tmp / REPORT_DIR

    def embedding_path(self, name: str) -> Path:
        (self.tmp / EMBEDDINGS_DIR).mkdir(exist_ok=True)
        return self.tmp / EMBEDDINGS_DIR / f"{name}.parquet"

    def similar_path(self, name: str) -> Path:
        (self.tmp / SIMILAR_DIR).mkdir(exist_ok=True)
        return self.tmp / SIMILAR_DIR / f"{name}.parquet"

    def model_dir(self, name: str) -> Path:
        path = self.tmp / MODELS_DIR / name
        path.parent.mkdir(exist_ok=True)
        return path

    def commit(self, make_current: bool = True) -> Bundle:
        """Checksum every file, write the manifest, rename into place and (optionally) switch ``current``."""
        files = {
            str(p.relative_to(self.tmp)): sha256_file(p)
            for p in sorted(self.tmp.rglob("*"))
            if p.is_file() and p.name != MANIFEST
        }
        self.manifest["files"] = files
        (self.tmp / MANIFEST).write_text(json.dumps(self.manifest, indent=2, sort_keys=True, default=str))
        final = self.artifacts / self.version
        os.replace(self.tmp, final)
        if make_current:
            set_current(self.artifacts, self.version)
        return Bundle(path=final, manifest=self.manifest)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextmanager
def write_bundle(artifacts: Path, version: str) -> Iterator[BundleWriter]:
    """Context manager around :class:`BundleWriter`: on any exception the temp directory is removed.

    The caller fills files and ``writer.manifest`` and calls ``writer.commit()`` inside the block.
    """
    Path(artifacts).mkdir(parents=True, exist_ok=True)
    writer = BundleWriter(artifacts, version)
    try:
        yield writer
    except BaseException:
        writer.abort()
        raise
    finally:
        if writer.tmp.exists():  # block ended without commit
            writer.abort()


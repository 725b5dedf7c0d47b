"""Fixtures of the reliability tests: a fast bundle with a hostile title, settings, live servers.

The bundle comes from H4's fast builder (``tests/online/bundle_factory.py``, ~20 s, loaded by path)
over the shared synthetic MovieLens data, with movie 1 renamed to a title full of markup. Helpers
that tests import live in ``reliability_support.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_support import (
    ADMIN_TOKEN,
    HOSTILE_MOVIE_ID,
    HOSTILE_TITLE,
    ProcessServer,
    ThreadServer,
)
from sparrow_testing import RedisServer, copy_with_title, load_bundle_factory, require, settings_for

from sparrow.settings import Settings


@pytest.fixture(scope="session")
def hostile_data(synthetic_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic MovieLens CSVs with movie 1 titled ``HOSTILE_TITLE``."""
    return copy_with_title(synthetic_data, tmp_path_factory.mktemp("rel-data") / "ml", HOSTILE_MOVIE_ID, HOSTILE_TITLE)


@pytest.fixture(scope="session")
def rel_artifacts(hostile_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Artifacts dir with one current factory bundle (models included). Read-only: copy it to write."""
    artifacts = tmp_path_factory.mktemp("rel-artifacts")
    load_bundle_factory("reliability_bundle_factory").build_bundle(hostile_data, artifacts, seed=5)
    return artifacts


@pytest.fixture
def artifacts(rel_artifacts: Path, tmp_path: Path) -> Path:
    """A private copy of ``rel_artifacts`` for tests that publish, corrupt or write events."""
    target = tmp_path / "artifacts"
    shutil.copytree(rel_artifacts, target)
    return target


@pytest.fixture(scope="session")
def no_experiments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rel-exp") / "experiments.yaml"
    path.write_text("experiments: []\n")
    return path


@pytest.fixture
def make_settings(no_experiments: Path) -> Callable[..., Settings]:
    """Settings over an artifacts dir: no poller, no experiments, an admin token (override any)."""

    def make(artifacts: Path, **overrides: Any) -> Settings:
        defaults = {"experiments_file": no_experiments, "admin_token": ADMIN_TOKEN, "ann_index": "flat"}
        return settings_for(artifacts, **{**defaults, **overrides})

    return make


@pytest.fixture
def thread_server(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., ThreadServer]]:
    """Start servers with ``thread_server(artifacts, **setting_overrides)``; all stopped at the end."""
    servers: list[ThreadServer] = []

    def start(artifacts: Path, **overrides: Any) -> ThreadServer:
        server = ThreadServer(make_settings(artifacts, **overrides))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def process_server(tmp_path: Path, no_experiments: Path) -> Iterator[Callable[..., ProcessServer]]:
    """Start ``sparrow serve`` subprocesses with ``process_server(artifacts, **SPARROW_env)``; stopped at the end."""
    servers: list[ProcessServer] = []

    def start(artifacts: Path, **env: str) -> ProcessServer:
        values = {
            "SPARROW_ARTIFACTS": str(artifacts),
            "SPARROW_RELOAD_POLL_S": "0",
            "SPARROW_EXPERIMENTS_FILE": str(no_experiments),
            "SPARROW_ADMIN_TOKEN": ADMIN_TOKEN,
            "SPARROW_ANN_INDEX": "flat",
            "SPARROW_LOG_LEVEL": "INFO",
        }
        values.update(env)
        server = ProcessServer(values, tmp_path / f"server-{len(servers)}.log")
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server with AOF persistence of this test's own (stop/start it to inject faults)."""
    require(shutil.which("redis-server") is not None, "redis-server")
    server = RedisServer(data_dir=tmp_path / "redis-data").start()
    yield server
    server.stop()

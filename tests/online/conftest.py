"""Fixtures of the online tests: a fast factory-built bundle, settings and apps over it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bundle_factory import build_bundle
from fastapi.testclient import TestClient
from online_helpers import ADMIN_TOKEN
from sparrow_testing import app_clients, settings_for

from sparrow.settings import Settings


@pytest.fixture(scope="session")
def factory_artifacts(tmp_path_factory: pytest.TempPathFactory, synthetic_data: Path) -> Path:
    """Artifacts dir with one factory bundle (models included); treat as read-only."""
    artifacts = tmp_path_factory.mktemp("factory-artifacts")
    build_bundle(synthetic_data, artifacts, seed=0)
    return artifacts


@pytest.fixture(scope="session")
def no_experiments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An experiments file with none, so the repo's experiments.yaml does not leak into tests."""
    path = tmp_path_factory.mktemp("exp") / "experiments.yaml"
    path.write_text("experiments: []\n")
    return path


@pytest.fixture
def artifacts_copy(factory_artifacts: Path, tmp_path: Path) -> Path:
    """A private copy of the factory artifacts, for tests that write events or publish versions."""
    target = tmp_path / "artifacts"
    shutil.copytree(factory_artifacts, target)
    return target


@pytest.fixture
def make_settings(no_experiments: Path) -> Callable[..., Settings]:
    def make(artifacts: Path, **overrides: Any) -> Settings:
        return settings_for(artifacts, **{"experiments_file": no_experiments, "admin_token": ADMIN_TOKEN, **overrides})

    return make


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Build (and close at the end) TestClients over apps with the given settings."""
    with app_clients() as open_client:
        yield lambda artifacts, **overrides: open_client(make_settings(artifacts, **overrides))


@pytest.fixture(scope="module")
def ro_client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A module-wide client over a copy of the factory bundle (reads; writes go to the copy)."""
    factory = request.getfixturevalue("factory_artifacts")
    exp = request.getfixturevalue("no_experiments")
    target = tmp_path_factory.mktemp("ro") / "artifacts"
    shutil.copytree(factory, target)
    with app_clients() as open_client:
        yield open_client(settings_for(target, experiments_file=exp, admin_token=ADMIN_TOKEN))


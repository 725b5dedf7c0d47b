"""Fixtures of the web UI tests: a bundle with a hostile title, an experiments file, the real app.

The bundle comes from H4's fast builder (``tests/online/bundle_factory.py``: pandas + tiny Keras
models, ~20 s) over the shared synthetic MovieLens data, with one movie renamed to a title full of
markup so every page's escaping is tested on real data. Set ``SPARROW_WEBUI_REAL_BUNDLE=1`` to run
the same tests over ``synthetic_bundle`` (the real Spark + TensorFlow pipeline; minutes), or
``SPARROW_WEBUI_DATA=data/ml-latest-small`` to build the fast bundle from real MovieLens data
(that is how the README screenshots in docs/img were taken).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sparrow_testing import copy_with_title, load_bundle_factory
from webui_support import EXPERIMENTS_YAML, HOSTILE_MOVIE_ID, HOSTILE_TITLE


def _own_data() -> Path | None:
    """``SPARROW_WEBUI_DATA``: a MovieLens directory to build the bundle from (e.g. for README screenshots)."""
    value = os.environ.get("SPARROW_WEBUI_DATA")
    return Path(value).resolve() if value else None


@pytest.fixture(scope="session")
def webui_data(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic data with one hostile title, or the untouched ``SPARROW_WEBUI_DATA`` directory."""
    own = _own_data()
    if own is not None:
        return own
    synthetic = Path(request.getfixturevalue("synthetic_data"))
    return copy_with_title(synthetic, tmp_path_factory.mktemp("webui-data") / "ml", HOSTILE_MOVIE_ID, HOSTILE_TITLE)


@pytest.fixture(scope="session")
def webui_artifacts(request: pytest.FixtureRequest, webui_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Artifacts dir with a current bundle: the fast builder by default, the real pipeline on request."""
    if os.environ.get("SPARROW_WEBUI_REAL_BUNDLE") == "1":
        return Path(request.getfixturevalue("synthetic_bundle"))
    artifacts = tmp_path_factory.mktemp("webui-artifacts")
    load_bundle_factory("webui_bundle_factory").build_bundle(webui_data, artifacts, seed=3)
    return artifacts


@pytest.fixture(scope="session")
def hostile_movie_id(webui_artifacts: Path) -> int | None:
    """The id of the movie titled :data:`HOSTILE_TITLE`, or None over the real pipeline's bundle."""
    real_pipeline = os.environ.get("SPARROW_WEBUI_REAL_BUNDLE") == "1"
    return None if real_pipeline or _own_data() is not None else HOSTILE_MOVIE_ID


@pytest.fixture(scope="session")
def experiments_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("webui-experiments") / "experiments.yaml"
    path.write_text(EXPERIMENTS_YAML)
    return path


@pytest.fixture
def app_client(webui_artifacts: Path, experiments_file: Path) -> Iterator:  # type: ignore[type-arg]
    """A TestClient over the real ``create_app`` (file store, in-memory counters, no reload poller)."""
    from fastapi.testclient import TestClient

    from online.app import create_app
    from sparrow.settings import Settings

    settings = Settings(artifacts=webui_artifacts, experiments_file=experiments_file, reload_poll_s=0, redis_url=None)
    with TestClient(create_app(settings)) as client:
        yield client

"""Shared fixtures: required-service policy, synthetic data, one Spark session, real redis-servers, bundles.

With ``SPARROW_REQUIRE_SERVICES=1`` (set by CI) a missing Java/Spark, redis-server or Chromium
fails the test instead of skipping it, so a green CI run really exercised them.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sparrow_testing import RedisServer, free_port, require, services_required  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
# bench/ is run from the repository root (``python -m bench.run``) and is not an installed package; tests
# outside tests/bench use it too (e.g. itemcf checked against bench.baselines.ItemKNN), so every test gets it
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
ML_LATEST_SMALL = REPO / "data" / "ml-latest-small"
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")
if not os.environ.get("JAVA_HOME") and Path("/usr/lib/jvm/java-17-openjdk-amd64").is_dir():
    os.environ["JAVA_HOME"] = "/usr/lib/jvm/java-17-openjdk-amd64"


# --- data ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MovieLens-shaped directory (movies/ratings/links/tags CSV) with a latent taste structure."""
    from offline.synth import write_synthetic_movielens

    out = tmp_path_factory.mktemp("synthetic-ml")
    write_synthetic_movielens(out, users=120, movies=300, ratings=12_000, seed=7)
    return out


# --- Spark -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def spark():  # type: ignore[no-untyped-def]
    """One local Spark session for the whole test run (session start costs ~10 s)."""
    require(shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME")), "Java (for Spark)")
    from offline.spark_session import get_spark, stop_spark

    session = get_spark(master="local[2]", app_name="sparrow-tests", shuffle_partitions=4, driver_memory="2g")
    yield session
    stop_spark()


# --- Redis -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server shared by the session; use ``redis_url`` for a flushed database per test."""
    require(shutil.which("redis-server") is not None, "redis-server")
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    return redis_server.url


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A redis-server of the test's own, which the test may stop and start (fault injection)."""
    require(shutil.which("redis-server") is not None, "redis-server")
    server = RedisServer().start()
    yield server
    server.stop()


# --- bundles ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def synthetic_bundle(tmp_path_factory: pytest.TempPathFactory, synthetic_data: Path, spark) -> Path:  # type: ignore[no-untyped-def]
    """Artifacts directory holding a complete bundle built by the real pipeline from synthetic data.

    Every model is trained briefly (quick params), so online/webui tests exercise real SavedModels.
    """
    from offline.params import PipelineParams
    from offline.pipeline import run_pipeline

    artifacts = tmp_path_factory.mktemp("artifacts")
    run_pipeline(synthetic_data, artifacts, spark=spark, params=PipelineParams.quick())
    return artifacts

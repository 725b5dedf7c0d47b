"""The compose sequence without Docker: the `offline` service's command, then the `online` one.

Both command lines are read from docker-compose.yml itself; only what a container provides is
swapped for local equivalents (mounted paths -> temp dirs and the synthetic data, the `redis`
service -> a real redis-server on a free port, Spark `local[*]` -> `local[2]`, `--quick` models).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from compose_helpers import REPO, VENV_BIN, command, environment, load_compose
from serve_process import ServeProcess, redis_current
from sparrow_testing import free_port

pytestmark = [pytest.mark.redis, pytest.mark.spark, pytest.mark.slow]


def _replace_option(args: list[str], option: str, value: str) -> list[str]:
    assert option in args, f"compose command lacks {option}: {args}"
    out = list(args)
    out[out.index(option) + 1] = value
    return out


def test_offline_then_online_exactly_as_compose_runs_them(
    synthetic_data: Path, redis_url: str, tmp_path: Path
) -> None:
    services = load_compose()["services"]
    artifacts = tmp_path / "artifacts"

    # 1. the `offline` service: train, write the bundle, publish to Redis
    offline = command(services["offline"])
    assert offline[:3] == ["sparrow", "offline", "run"]
    args = _replace_option(offline[3:], "--data-dir", str(synthetic_data))
    args = _replace_option(args, "--artifacts", str(artifacts))
    args = _replace_option(args, "--spark-master", "local[2]")
    args = _replace_option(args, "--redis-url", redis_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARROW_")}
    env.update({k: v for k, v in environment(services["offline"]).items() if v is not None})
    env["SPARROW_SPARK_DRIVER_MEMORY"] = "2g"  # a shared 2-core test machine, not a Docker host
    result = subprocess.run(
        [
            "sh",
            str(REPO / "deploy" / "entrypoint.sh"),
            str(VENV_BIN / "sparrow"),
            *offline[1:3],
            *args,
            "--quick",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    published = redis_current(redis_url)
    assert published is not None, "the offline job did not publish to Redis"
    assert (artifacts / "current").read_text().strip() == published

    # 2. the `online` service: serve from Redis, with the artifacts volume for the models
    online = command(services["online"])
    assert online[:2] == ["sparrow", "serve"]
    port = free_port()
    serve_args = _replace_option(_replace_option(online[2:], "--host", "127.0.0.1"), "--port", str(port))
    online_env = {k: v for k, v in environment(services["online"]).items() if v is not None}
    assert online_env["SPARROW_REDIS_URL"].startswith("redis://redis:")
    online_env.update({"SPARROW_REDIS_URL": redis_url, "SPARROW_ARTIFACTS": str(artifacts)})
    server = ServeProcess(serve_args, online_env, tmp_path / "serve.log", port)
    try:
        ready = server.wait_ready()
        assert ready["version"] == published and ready["ready"] is True

        ratings = pd.read_csv(synthetic_data / "ratings.csv", usecols=["userId"])
        user = int(ratings["userId"].value_counts().index[0])
        movies = set(pd.read_csv(synthetic_data / "movies.csv", usecols=["movieId"])["movieId"].astype(int))
        response = server.client.get(f"/api/users/{user}/recommendations", params={"size": 10})
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert len(items) == 10
        assert {item["movieId"] for item in items} <= movies

        # the healthcheck compose runs against this container, verbatim (it names port 8000)
        probe = services["online"]["healthcheck"]["test"][-1].replace(":8000/", f":{port}/")
        assert subprocess.run([str(VENV_BIN / "python"), "-c", probe], timeout=30).returncode == 0
    finally:
        server.stop()

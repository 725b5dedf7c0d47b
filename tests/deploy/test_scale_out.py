"""Scale-out without Docker: two `sparrow serve` replicas on one real redis-server behave as one site.

This is the property `docker compose up --scale online=3` relies on: a replica keeps nothing that
matters outside Redis, so a rating posted to one replica shapes the next recommendation served by
another, and A/B exposures are counted once, in Redis, whichever replica served them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from compose_helpers import VENV_BIN
from serve_process import ServeProcess, redis_current
from sparrow_testing import free_port

pytestmark = [pytest.mark.redis, pytest.mark.spark, pytest.mark.slow]

EXPERIMENT = "scale-out"


def publish_with_cli(artifacts: Path, redis_url: str) -> None:
    """`sparrow offline publish`: load the current bundle into Redis and switch `current`."""
    result = subprocess.run(
        [
            str(VENV_BIN / "sparrow"),
            "offline",
            "publish",
            "--artifacts",
            str(artifacts),
            "--redis-url",
            redis_url,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture
def experiments_file(tmp_path: Path) -> Path:
    path = tmp_path / "experiments.json"
    path.write_text(
        json.dumps(
            {
                "experiments": [
                    {
                        "name": EXPERIMENT,
                        "type": "ab",
                        "salt": "scale-out-test",
                        "enabled": True,
                        "traffic": 100,
                        "variants": [{"name": "a", "weight": 50}, {"name": "b", "weight": 50}],
                    }
                ]
            }
        )
    )
    return path


@pytest.fixture
def replicas(
    synthetic_bundle: Path, redis_url: str, experiments_file: Path, tmp_path: Path
) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    publish_with_cli(synthetic_bundle, redis_url)
    started: list[ServeProcess] = []
    try:
        for name in ("a", "b"):
            port = free_port()
            started.append(
                ServeProcess(
                    [
                        "--artifacts",
                        str(synthetic_bundle),
                        "--redis-url",
                        redis_url,
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--experiments-file",
                        str(experiments_file),
                    ],
                    env={"SPARROW_RELOAD_POLL_S": "2"},
                    log=tmp_path / f"serve-{name}.log",
                    port=port,
                )
            )
        for replica in started:
            replica.wait_ready()
        yield started[0], started[1]
    finally:
        for replica in started:
            replica.stop()


def _users(data_dir: Path, n: int) -> list[int]:
    ratings = pd.read_csv(data_dir / "ratings.csv", usecols=["userId"])
    return [int(u) for u in ratings["userId"].value_counts().index[:n]]


def _exposures(replica: ServeProcess) -> dict[str, int]:
    response = replica.client.get(f"/api/experiments/{EXPERIMENT}/report")
    assert response.status_code == 200, response.text
    return {v["name"]: v["exposures"] for v in response.json()["variants"]}


def test_replicas_serve_the_published_version(
    replicas: tuple[ServeProcess, ServeProcess], redis_url: str
) -> None:
    a, b = replicas
    version = redis_current(redis_url)
    assert version is not None
    assert a.client.get("/readyz").json()["version"] == version == b.client.get("/readyz").json()["version"]


def test_rating_posted_to_one_replica_shapes_the_next_recommendation_of_the_other(
    replicas: tuple[ServeProcess, ServeProcess], synthetic_data: Path
) -> None:
    a, b = replicas
    user = _users(synthetic_data, 1)[0]
    before = a.client.get(f"/api/users/{user}/recommendations", params={"size": 10})
    assert before.status_code == 200, before.text
    top = before.json()["items"][0]["movieId"]

    posted = b.client.post("/api/ratings", json={"userId": user, "movieId": top, "rating": 5.0})
    assert posted.status_code == 202, posted.text

    # replica A never saw that request: what it knows comes from Redis
    profile = a.client.get(f"/api/users/{user}").json()
    assert top in profile["realtimePositives"], profile
    after = a.client.get(f"/api/users/{user}/recommendations", params={"size": 10})
    assert after.status_code == 200, after.text
    assert top not in [item["movieId"] for item in after.json()["items"]], (
        "a movie just rated is recommended again"
    )


def test_both_replicas_count_the_same_ab_exposures(
    replicas: tuple[ServeProcess, ServeProcess], synthetic_data: Path
) -> None:
    a, b = replicas
    start_a, start_b = _exposures(a), _exposures(b)
    assert start_a == start_b

    users = _users(synthetic_data, 6)
    served: dict[str, int] = {}
    for i, user in enumerate(users):
        replica = a if i % 2 == 0 else b  # alternate, as a load balancer would
        response = replica.client.get(f"/api/users/{user}/recommendations", params={"size": 5})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["experiment"] == EXPERIMENT and body["variant"] in {"a", "b"}
        served[body["variant"]] = served.get(body["variant"], 0) + 1

    end_a, end_b = _exposures(a), _exposures(b)
    assert end_a == end_b, "the replicas disagree: exposures are kept per process, not in Redis"
    grew = {v: end_a[v] - start_a.get(v, 0) for v in end_a}
    assert {v for v, n in grew.items() if n > 0} == set(served), (grew, served)
    # both replicas' requests were counted (an exposure may count the request or each item shown)
    assert sum(grew.values()) >= len(users)

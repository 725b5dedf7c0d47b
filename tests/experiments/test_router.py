"""The experiments router on a tiny FastAPI app with the service's error handlers."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from online.errors import install_error_handlers
from online.experiments import ExperimentRegistry, InMemoryCounters
from online.routers.experiments import router

from .conftest import ab_experiment, interleaving_experiment


@pytest.fixture
def app_client() -> tuple[TestClient, ExperimentRegistry]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    registry = ExperimentRegistry([ab_experiment(), interleaving_experiment(enabled=False)], InMemoryCounters())
    app.state.experiments = registry
    return TestClient(app), registry


def test_list_experiments(app_client: tuple[TestClient, ExperimentRegistry]) -> None:
    client, _ = app_client
    response = client.get("/api/experiments")
    assert response.status_code == 200
    body = response.json()
    assert [e["name"] for e in body] == ["rank-ab", "rank-il"]
    assert body[0]["variants"][1] == {"name": "emb_mlp", "weight": 50, "model": "emb_mlp",
                                      "recall": {"popular": 10}, "ann_index": "flat"}
    assert body[1]["enabled"] is False and body[1]["type"] == "interleaving"


def test_report(app_client: tuple[TestClient, ExperimentRegistry]) -> None:
    client, registry = app_client
    a = registry.assign(1)
    assert a is not None
    registry.record_exposure(a, [1, 2, 3, 4])
    registry.record_event(a.experiment, None, 3, "click", user_id=1)
    response = client.get("/api/experiments/rank-ab/report")
    assert response.status_code == 200
    body = response.json()
    row = next(v for v in body["variants"] if v["name"] == a.variant)
    assert (row["exposures"], row["clicks"], row["ctr"]) == (4, 1, 0.25)
    assert 0.0 < row["ci_low"] < 0.25 < row["ci_high"] < 1.0
    assert body["type"] == "ab" and body["p_value"] is None  # the other variant has no exposures yet


def test_unknown_report_is_a_json_404(app_client: tuple[TestClient, ExperimentRegistry]) -> None:
    client, _ = app_client
    response = client.get("/api/experiments/nope/report")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "experiment_not_found" and "nope" in error["message"]


def test_openapi_documents_the_routes(app_client: tuple[TestClient, ExperimentRegistry]) -> None:
    client, _ = app_client
    paths = client.get("/openapi.json").json()["paths"]
    report = paths["/api/experiments/{name}/report"]["get"]
    assert {"200", "404", "503"} <= set(report["responses"])
    assert "/api/experiments" in paths

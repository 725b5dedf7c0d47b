"""Key API checks against a bundle built by the real offline pipeline (Spark + TF training)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def real_client(synthetic_bundle: Path, no_experiments: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    import shutil

    from fastapi.testclient import TestClient

    from online.app import create_app
    from sparrow.settings import Settings

    artifacts = tmp_path_factory.mktemp("real") / "artifacts"
    shutil.copytree(synthetic_bundle, artifacts)
    settings = Settings(artifacts=artifacts, reload_poll_s=0, experiments_file=no_experiments, log_level="WARNING")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_real_bundle_loads_and_serves(real_client) -> None:  # type: ignore[no-untyped-def]
    assert real_client.get("/readyz").json()["ready"] is True
    page = real_client.get("/api/movies?size=5&sort=popularity").json()
    movie_id = page["items"][0]["movieId"]
    assert real_client.get(f"/api/movies/{movie_id}").status_code == 200
    sims = real_client.get(f"/api/movies/{movie_id}/similar?size=5&model=item2vec").json()
    assert sims["items"] and movie_id not in [m["movieId"] for m in sims["items"]]


def test_real_bundle_recommendations_use_its_models(real_client) -> None:  # type: ignore[no-untyped-def]
    service = real_client.app.state.service
    catalog = service.catalog()
    assert catalog.model_names, "the pipeline exported no ranking model"
    uid = service.sample_user_ids(1)[0]
    for model in catalog.model_names:
        body = real_client.get(f"/api/users/{uid}/recommendations?size=10&model={model}").json()
        assert body["model"] == model and len(body["items"]) == 10, (model, body)
    channels = {c for i in real_client.get(f"/api/users/{uid}/recommendations?size=50").json()["items"] for c in i["channels"]}
    assert {"embedding", "item2item"} & channels


def test_real_bundle_batched_equals_per_row(real_client) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from online import pipeline
    from sparrow.feature_spec import serving_batch

    service = real_client.app.state.service
    cat = service.catalog()
    uid = service.sample_user_ids(1)[0]
    ctx = pipeline.build_context(cat, service._user_state(cat, uid), "flat")
    ids = cat.popular[:20]
    for model in cat.model_names:
        ranker = cat.rankers.get(model)
        batched = ranker.score(serving_batch(ctx.user_features, cat.movie_columns(ids)))
        single = [ranker.score(serving_batch(ctx.user_features, cat.movie_columns([m])))[0] for m in ids]
        assert np.allclose(batched, single, atol=1e-4), model


def test_real_bundle_nearline_and_legacy(real_client) -> None:  # type: ignore[no-untyped-def]
    uid = real_client.app.state.service.sample_user_ids(1)[0]
    target = real_client.get(f"/api/users/{uid}/recommendations?size=5").json()["items"][0]["movieId"]
    assert real_client.post("/api/ratings", json={"userId": uid, "movieId": target, "rating": 5}).status_code == 202
    after = real_client.get(f"/api/users/{uid}/recommendations?size=20").json()["items"]
    assert target not in [i["movieId"] for i in after]
    assert real_client.get(f"/getuser?id={uid}").json()["userId"] == uid
    assert isinstance(real_client.get(f"/getrecforyou?id={uid}&size=5&model=emb").json(), list)


def test_real_bundle_serves_the_itemcf_list(real_client) -> None:  # type: ignore[no-untyped-def]
    """The pipeline's itemcf list is in the manifest, served by /similar and used by item2item recall."""
    from online import pipeline
    from online.recall.channels import item2item_channel
    from sparrow.bundle import ITEMCF_LIST

    service = real_client.app.state.service
    cat = service.catalog()
    assert cat.manifest["similar"][ITEMCF_LIST]["count"] > 0 and cat.similar[ITEMCF_LIST]
    movie_id = cat.popular[0]
    body = real_client.get(f"/api/movies/{movie_id}/similar?size=5&model={ITEMCF_LIST}").json()
    ids, scores = cat.similar[ITEMCF_LIST][movie_id]
    assert body["model"] == ITEMCF_LIST and [i["movieId"] for i in body["items"]] == [int(m) for m in ids[:5]]
    assert all(0 < i["score"] <= 1 for i in body["items"])
    assert real_client.get(f"/getsimilarmovie?movieId={movie_id}&size=5&model={ITEMCF_LIST}").status_code == 200
    uid = service.sample_user_ids(1)[0]
    ctx = pipeline.build_context(cat, service._user_state(cat, uid), "flat")
    seeds = ctx.positives[:10]
    recalled = {m for m, _ in item2item_channel(ctx, 50)}
    assert recalled and recalled <= {int(m) for s in seeds for m in cat.similar[ITEMCF_LIST].get(s, ([], []))[0]}


def test_real_bundle_stores_the_user_tower_vector_of_every_user(real_client) -> None:  # type: ignore[no-untyped-def]
    """The models step's two_tower_user vectors equal what the served user tower computes from each snapshot."""
    import numpy as np

    from sparrow.bundle import TWO_TOWER_USER
    from sparrow.feature_spec import user_features_from_history

    service = real_client.app.state.service
    cat = service.catalog()
    assert TWO_TOWER_USER in cat.manifest["embeddings"], "no precomputed user-tower vectors in the bundle"
    assert cat.manifest["embeddings"][TWO_TOWER_USER]["count"] == len(service.store._users[cat.version])
    for uid in service.sample_user_ids(5):
        state = service._user_state(cat, uid)
        stored = state.embeddings[TWO_TOWER_USER]
        # the offline snapshot alone (another test may have posted a nearline rating for this user)
        served = cat.user_tower_vector(user_features_from_history(uid, state.snapshot))
        np.testing.assert_allclose(stored, served, atol=1e-5)


def test_two_tower_recall_runs_the_tower_only_after_nearline_ratings(real_client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from online import pipeline
    from online.recall.channels import two_tower_channel

    service = real_client.app.state.service
    cat = service.catalog()
    uid = service.sample_user_ids(1)[0]
    state = service._user_state(cat, uid)
    state.rt_history = []  # as offline knows the user (another test may have posted a rating)
    calls: list[int] = []
    real_tower = type(cat).user_tower_vector

    def counted(self, features):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real_tower(self, features)

    monkeypatch.setattr(type(cat), "user_tower_vector", counted)
    assert two_tower_channel(pipeline.build_context(cat, state, "flat"), 20)
    assert calls == [], "the stored vector should have answered"
    fresh = next(m for m in cat.popular if m not in pipeline.seen_of(state))
    state.rt_history = [fresh]
    assert two_tower_channel(pipeline.build_context(cat, state, "flat"), 20)
    assert calls == [1], "nearline history changes the features: the tower must run"

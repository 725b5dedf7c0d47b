"""Every REST endpoint over a factory bundle (FileStore): shapes, sorting, paging, errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from online_helpers import ADMIN_TOKEN, known_user


def _error(resp, status: int, code: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code:
        assert body["error"]["code"] == code
    assert "Traceback" not in resp.text
    return body["error"]


def test_get_movie_and_unknown(ro_client: TestClient) -> None:
    first = ro_client.get("/api/movies?size=1").json()["items"][0]
    movie = ro_client.get(f"/api/movies/{first['movieId']}").json()
    assert movie == first and movie["title"] and isinstance(movie["genres"], list)
    _error(ro_client.get("/api/movies/99999999"), 404, "not_found")
    err = _error(ro_client.get("/api/movies/abc"), 422, "invalid_parameter")
    assert "movie_id" in err["message"]


@pytest.mark.parametrize(("sort", "key"), [("rating", None), ("popularity", "ratingCount"), ("year", "year")])
def test_list_movies_sorted_and_paged(ro_client: TestClient, sort: str, key: str | None) -> None:
    page1 = ro_client.get(f"/api/movies?sort={sort}&size=10&page=1").json()
    page2 = ro_client.get(f"/api/movies?sort={sort}&size=10&page=2").json()
    assert page1["total"] == page2["total"] > 20 and len(page1["items"]) == 10
    assert not {m["movieId"] for m in page1["items"]} & {m["movieId"] for m in page2["items"]}
    if key:
        values = [m[key] or 0 for m in page1["items"] + page2["items"]]
        assert values == sorted(values, reverse=True)


def test_list_movies_by_genre(ro_client: TestClient) -> None:
    genres = ro_client.get("/api/genres").json()
    assert genres
    page = ro_client.get(f"/api/movies?genre={genres[0]}&size=50").json()
    assert page["items"] and all(genres[0] in m["genres"] for m in page["items"])
    _error(ro_client.get("/api/movies?genre=NoSuchGenre"), 404)
    err = _error(ro_client.get("/api/movies?sort=bogus"), 422)
    assert "sort" in err["message"]


def test_size_bounds_named(ro_client: TestClient) -> None:
    for url in ("/api/movies?size=0", "/api/movies?size=201", "/api/search?q=a&size=500"):
        assert "size" in _error(ro_client.get(url), 422, "invalid_parameter")["message"]


def test_search(ro_client: TestClient) -> None:
    movie = ro_client.get("/api/movies?size=1").json()["items"][0]
    word = movie["title"].split()[0].lower()
    hits = ro_client.get(f"/api/search?q={word}&size=50").json()
    assert hits and all(word in h["title"].lower() for h in hits)
    assert ro_client.get("/api/search?q=zzzzqqqq").json() == []
    assert "q" in _error(ro_client.get("/api/search"), 422)["message"]


@pytest.mark.parametrize("model", ["item2vec", "deepwalk", "als", "genre"])
def test_similar_models(ro_client: TestClient, model: str) -> None:
    movie_id = ro_client.get("/api/movies?size=1").json()["items"][0]["movieId"]
    body = ro_client.get(f"/api/movies/{movie_id}/similar?size=7&model={model}").json()
    assert body["model"] == model and body["movieId"] == movie_id
    assert 0 < len(body["items"]) <= 7 and movie_id not in [i["movieId"] for i in body["items"]]
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)


def test_similar_errors(ro_client: TestClient) -> None:
    assert "model" in _error(ro_client.get("/api/movies/1/similar?model=nope"), 422)["message"]
    # node2vec is a valid name, but this bundle has neither its list nor its embedding
    assert "model" in _error(ro_client.get("/api/movies/1/similar?model=node2vec"), 422)["message"]
    _error(ro_client.get("/api/movies/99999999/similar"), 404)


def test_user(ro_client: TestClient) -> None:
    uid = known_user(ro_client)
    user = ro_client.get(f"/api/users/{uid}").json()
    assert user["userId"] == uid and user["known"] is True
    assert user["history"] and {"movieId", "rating", "timestamp", "title"} <= set(user["history"][0])
    assert "userAvgRating" in user["features"]
    _error(ro_client.get("/api/users/99999999"), 404)


def test_recommendations(ro_client: TestClient) -> None:
    uid = known_user(ro_client)
    body = ro_client.get(f"/api/users/{uid}/recommendations?size=15").json()
    assert body["userId"] == uid and body["model"] == "deepfm" and body["degraded"] is False
    items = body["items"]
    assert len(items) == 15 and len({i["movieId"] for i in items}) == 15
    assert all(i["channels"] for i in items)
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    seen = {h["movieId"] for h in ro_client.get(f"/api/users/{uid}").json()["history"]}
    assert not seen & {i["movieId"] for i in items}
    plain = ro_client.get(f"/api/users/{uid}/recommendations?size=5&explain=false").json()
    assert all(i["channels"] == [] for i in plain["items"])


def test_recommendations_models_and_errors(ro_client: TestClient) -> None:
    uid = known_user(ro_client)
    for model in ("two_tower", "item2vec", "recall_score"):
        assert ro_client.get(f"/api/users/{uid}/recommendations?size=5&model={model}").json()["model"] == model
    assert "model" in _error(ro_client.get(f"/api/users/{uid}/recommendations?model=nope"), 422)["message"]
    assert "size" in _error(ro_client.get(f"/api/users/{uid}/recommendations?size=0"), 422)["message"]


def test_cold_start_user_gets_popular(ro_client: TestClient) -> None:
    body = ro_client.get("/api/users/77777777/recommendations?size=10").json()
    assert len(body["items"]) == 10
    assert all("popular" in i["channels"] or "two_tower" in i["channels"] for i in body["items"])


def test_session_recommendations(ro_client: TestClient) -> None:
    liked = [m["movieId"] for m in ro_client.get("/api/movies?size=3").json()["items"]]
    body = ro_client.post("/api/recommendations/session", json={"liked": liked, "size": 8}).json()
    assert body["userId"] is None and len(body["items"]) == 8
    assert not set(liked) & {i["movieId"] for i in body["items"]}
    wide = ro_client.post("/api/recommendations/session", json={"liked": liked, "size": 150}).json()
    assert {"item2item", "embedding"} <= {c for i in wide["items"] for c in i["channels"]}
    assert "liked" in _error(ro_client.post("/api/recommendations/session", json={"liked": []}), 422)["message"]
    _error(ro_client.post("/api/recommendations/session", json={"liked": [99999999]}), 422)


def test_writes_validate(ro_client: TestClient) -> None:
    uid = known_user(ro_client)
    err = _error(ro_client.post("/api/ratings", json={"userId": uid, "movieId": 1, "rating": 7}), 422)
    assert "rating" in err["message"]
    _error(ro_client.post("/api/ratings", json={"userId": uid, "movieId": 99999999, "rating": 4}), 404)
    assert "type" in _error(ro_client.post("/api/events", json={"userId": uid, "movieId": 1, "type": "x"}), 422)["message"]
    _error(ro_client.post("/api/events", content=b"not json", headers={"content-type": "application/json"}), 422)
    ok = ro_client.post("/api/events", json={"userId": uid, "movieId": 1, "type": "view"})
    assert ok.status_code == 202 and ok.json()["accepted"] is True and ok.json()["id"]


def test_body_limit(ro_client: TestClient) -> None:
    big = {"liked": [1] * 5, "size": 5, "pad": "x" * 70_000}
    _error(ro_client.post("/api/recommendations/session", json=big), 413, "payload_too_large")

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"x" * 1000

    _error(ro_client.post("/api/ratings", content=chunks(), headers={"content-type": "application/json"}), 413)


def test_health_ready_metrics(ro_client: TestClient) -> None:
    assert ro_client.get("/healthz").json() == {"status": "ok"}
    ready = ro_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["store"] == "file"
    ro_client.get("/api/movies/1")
    text = ro_client.get("/metrics").text
    assert 'sparrow_http_requests_total{method="GET",route="/api/movies/{movie_id}"' in text
    assert "sparrow_stage_seconds_bucket" in text and "sparrow_recall_channel_items_total" in text


def test_admin_auth(ro_client: TestClient) -> None:
    _error(ro_client.post("/admin/reload"), 401, "unauthorized")
    _error(ro_client.post("/admin/reload", headers={"Authorization": "Bearer wrong"}), 403, "forbidden")
    ok = ro_client.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert ok.status_code == 200 and ok.json()["changed"] is False and ok.json()["version"]


def test_admin_disabled_without_token(factory_artifacts, make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(factory_artifacts, admin_token=None)
    _error(client.post("/admin/reload", headers={"Authorization": "Bearer x"}), 404)
    _error(client.put("/admin/experiments", json=[]), 404)


def test_admin_put_experiments(ro_client: TestClient) -> None:
    config = [{"name": "t1", "salt": "s", "variants": [{"name": "a", "weight": 50}, {"name": "b", "weight": 50}]}]
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    resp = ro_client.put("/admin/experiments", json=config, headers=auth)
    assert resp.status_code == 200 and resp.json()[0]["name"] == "t1"
    assert [e["name"] for e in ro_client.get("/api/experiments").json()] == ["t1"]
    bad = [{"name": "t1", "salt": "s", "variants": [{"name": "a", "weight": 10}]}]
    _error(ro_client.put("/admin/experiments", json=bad, headers=auth), 422)
    assert ro_client.put("/admin/experiments", json=[], headers=auth).json() == []


def test_legacy_urls(ro_client: TestClient) -> None:
    movie = ro_client.get("/getmovie?id=1").json()
    assert set(movie) == {
        "movieId", "title", "releaseYear", "imdbId", "tmdbId", "genres", "averageRating", "ratingNumber", "topRatings",
    }
    uid = known_user(ro_client)
    user = ro_client.get(f"/getuser?id={uid}").json()
    assert set(user) == {"userId", "averageRating", "highestRating", "lowestRating", "ratingCount", "ratings"}
    assert set(user["ratings"][0]["rating"]) == {"movieId", "userId", "score", "timestamp"}
    similar = ro_client.get("/getsimilarmovie?movieId=1&size=5&model=emb").json()
    assert isinstance(similar, list) and len(similar) == 5 and "releaseYear" in similar[0]
    assert [m["movieId"] for m in similar] == [
        m["movieId"] for m in ro_client.get("/api/movies/1/similar?size=5&model=item2vec").json()["items"]
    ]
    recs = ro_client.get(f"/getrecforyou?id={uid}&size=6&model=emb").json()
    assert isinstance(recs, list) and len(recs) == 6 and "averageRating" in recs[0]
    genre = ro_client.get("/api/genres").json()[0]
    by_genre = ro_client.get(f"/getrecommendation?genre={genre}&size=4&sortby=releaseYear").json()
    years = [m["releaseYear"] for m in by_genre]
    assert len(by_genre) == 4 and years == sorted(years, reverse=True)
    _error(ro_client.get("/getmovie?id=99999999"), 404)
    assert "size" in _error(ro_client.get("/getsimilarmovie?movieId=1&size=0"), 422)["message"]
    assert "sortby" in _error(ro_client.get("/getrecommendation?sortby=x"), 422)["message"]


def test_openapi_lists_the_surface(ro_client: TestClient) -> None:
    paths = ro_client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/movies/{movie_id}", "/api/movies", "/api/search", "/api/movies/{movie_id}/similar", "/api/users/{user_id}",
        "/api/users/{user_id}/recommendations", "/api/recommendations/session", "/api/ratings", "/api/events",
        "/healthz", "/readyz", "/admin/reload", "/admin/experiments", "/api/experiments", "/getmovie", "/getrecforyou",
    ):
        assert path in paths, path


def test_unknown_route_is_json_404(ro_client: TestClient) -> None:
    _error(ro_client.get("/api/nothing-here"), 404)
    _error(ro_client.delete("/api/movies/1"), 405)


def test_preserialised_routes_keep_their_schemas(ro_client: TestClient) -> None:
    """The hot routes dump their own JSON; OpenAPI must still name the models and the bodies must fit them."""
    from online import schemas

    spec = ro_client.get("/openapi.json").json()["paths"]
    uid = known_user(ro_client)
    cases = [
        ("/api/movies/{movie_id}", "get", ro_client.get("/api/movies/1"), schemas.Movie),
        ("/api/movies/{movie_id}/similar", "get", ro_client.get("/api/movies/1/similar?size=5"), schemas.SimilarResponse),
        (
            "/api/users/{user_id}/recommendations", "get",
            ro_client.get(f"/api/users/{uid}/recommendations?size=5"), schemas.Recommendations,
        ),
        (
            "/api/recommendations/session", "post",
            ro_client.post("/api/recommendations/session", json={"liked": [1, 2], "size": 5}), schemas.Recommendations,
        ),
    ]
    for path, method, response, model in cases:
        ref = spec[path][method]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/" + model.__name__), (path, ref)
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        assert model.model_validate_json(response.content).model_dump(mode="json") == response.json()

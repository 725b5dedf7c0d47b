"""The seen-filter: no movie the user ever rated comes back, yet a page is never short.

The offline snapshot's ``recentRatings`` hold only the 50 newest ratings; ``ratedMovies`` holds every
rated movie, and recall excludes all of them. A user who has rated (nearly) the whole catalogue still
gets a full list: popular movies rated long ago fill it, never the recent ones.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from online import pipeline
from online.store.base import UserState


@pytest.fixture(scope="module")
def service(ro_client: TestClient):  # type: ignore[no-untyped-def]
    return ro_client.app.state.service


def _user_with_old_ratings(service: Any, unseen_margin: int = 100) -> tuple[int, dict[str, Any]]:
    """The user with the most ratings beyond the detailed recent ones who still has unseen movies left."""
    cat = service.catalog()
    best: tuple[int, dict[str, Any]] | None = None

    def old(snapshot: dict[str, Any]) -> int:
        return len(set(snapshot.get("ratedMovies") or []) - {r["movieId"] for r in snapshot["recentRatings"]})

    for user_id in service.sample_user_ids(1000):
        snapshot = service._user_state(cat, user_id).snapshot or {}
        if len(cat.movies) - len(snapshot.get("ratedMovies") or []) < unseen_margin:
            continue
        if best is None or old(snapshot) > old(best[1]):
            best = (user_id, snapshot)
    assert best is not None
    return best


def test_recommendations_never_repeat_any_rated_movie(ro_client: TestClient, service: Any) -> None:
    user_id, snapshot = _user_with_old_ratings(service)
    rated = set(snapshot["ratedMovies"])
    recent = {r["movieId"] for r in snapshot["recentRatings"]}
    # the filter can fail: this user has ratings older than the 50 the snapshot keeps in detail
    assert len(rated - recent) > 0, "fixture user has no ratings beyond recentRatings"
    for model in ("deepfm", "two_tower", "item2vec"):
        response = ro_client.get(f"/api/users/{user_id}/recommendations", params={"size": 50, "model": model})
        assert response.status_code == 200, response.text
        body = response.json()
        got = [item["movieId"] for item in body["items"]]
        assert len(got) == 50, body
        assert not set(got) & rated, (model, sorted(set(got) & rated))


def test_seen_of_covers_every_rated_movie() -> None:
    state = UserState(7, snapshot={"recentRatings": [{"movieId": 3}], "recentPositives": [4],
                                   "ratedMovies": [1, 2, 3, 4]}, rt_history=[9])
    assert pipeline.seen_of(state) == {1, 2, 3, 4, 9}
    assert pipeline.recently_seen(state) == {3, 4, 9}
    # an older snapshot without ratedMovies still filters the recent ones
    assert pipeline.seen_of(UserState(7, snapshot={"recentPositives": [4]})) == {4}


def _tiny_catalog(n: int) -> Any:
    movies = {m: SimpleNamespace(ratingCount=n - m) for m in range(1, n + 1)}
    return SimpleNamespace(movies=movies, popular=list(range(1, n + 1)), similar={}, embeddings={})


def test_a_user_who_rated_almost_everything_gets_a_full_list_without_recent_movies() -> None:
    catalog = _tiny_catalog(12)
    # rated 1..11; the latest ratings are 10 and 11, the nearline history holds 9
    snapshot = {"ratedMovies": list(range(1, 12)), "recentRatings": [{"movieId": 11}, {"movieId": 10}],
                "recentPositives": [11]}
    ctx = pipeline.build_context(catalog, UserState(5, snapshot=snapshot, rt_history=[9]), "flat")
    got = [c.movie_id for c in pipeline.recall(ctx, {"popular": 5}, 100, 6)]
    # the one unseen movie first, then the most popular movies rated long ago; never 9, 10 or 11
    assert got == [12, 1, 2, 3, 4, 5]
    # when unseen movies suffice, nothing rated is shown
    ctx = pipeline.build_context(_tiny_catalog(30), UserState(5, snapshot=snapshot), "flat")
    got = [c.movie_id for c in pipeline.recall(ctx, {"popular": 5}, 100, 6)]
    assert len(got) == 6 and not set(got) & set(range(1, 12))


def test_every_channel_returns_its_quota_of_unseen_movies(service: Any) -> None:
    """Each channel drops the seen movies itself (matrix channels mask them before their top-k)."""
    from online.recall.channels import CHANNELS

    user_id, snapshot = _user_with_old_ratings(service)
    cat = service.catalog()
    ctx = pipeline.build_context(cat, service._user_state(cat, user_id), "flat")
    assert len(ctx.exclude) >= 20
    k = 15
    for name, channel in CHANNELS.items():
        got = [m for m, _ in channel(ctx, k)]
        assert not set(got) & ctx.exclude, name
        assert len(got) == len(set(got)), name
        if name == "item2item":  # bounded by the seeds' similar lists
            assert 0 < len(got) <= k, name
        else:
            assert len(got) == k, (name, len(got))

"""Nearline effect on the next recommendation, hot reload under requests, corrupted bundles refused."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

from online_helpers import ADMIN_TOKEN

from sparrow.bundle import EVENTS_FILE, MOVIES, read_current

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_rating_changes_the_next_recommendation(artifacts_copy: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(artifacts_copy)
    service = client.app.state.service
    uid = service.sample_user_ids(1)[0]
    before = client.get(f"/api/users/{uid}/recommendations?size=30").json()["items"]
    target = before[0]["movieId"]
    resp = client.post("/api/ratings", json={"userId": uid, "movieId": target, "rating": 5.0})
    assert resp.status_code == 202
    after = client.get(f"/api/users/{uid}/recommendations?size=200").json()["items"]
    # the rated movie is now seen, and its similar movies come in through item2item
    assert target not in [i["movieId"] for i in after]
    similar = set(service.catalog().similar["item2vec"][target][0][:10])
    assert any(i["movieId"] in similar and "item2item" in i["channels"] for i in after)
    assert client.get(f"/api/users/{uid}").json()["realtimePositives"][0] == target
    lines = (artifacts_copy / EVENTS_FILE).read_text().splitlines()
    event = json.loads(lines[-1])
    assert event["type"] == "rating" and event["userId"] == uid and event["movieId"] == target and event["rating"] == 5.0


def test_nearline_user_without_history_gets_personal_recs(artifacts_copy: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(artifacts_copy)
    cold = client.get("/api/users/55555555/recommendations?size=10").json()["items"]
    liked = cold[3]["movieId"]
    assert client.post("/api/events", json={"userId": 55555555, "movieId": liked, "type": "click"}).status_code == 202
    warm = client.get("/api/users/55555555/recommendations?size=100").json()["items"]
    assert liked not in [i["movieId"] for i in warm]
    assert any("embedding" in i["channels"] or "item2item" in i["channels"] for i in warm)
    user = client.get("/api/users/55555555").json()
    assert user["known"] is False and user["realtimePositives"] == [liked]


def _publish_copy(artifacts: Path, tag: str) -> str:
    """A new version: the current bundle copied under a new name, then ``current`` switched to it."""
    from sparrow.bundle import set_current

    current = read_current(artifacts)
    assert current
    new = f"{current[:-8]}{tag}"
    shutil.copytree(artifacts / current, artifacts / new)
    manifest = json.loads((artifacts / new / "manifest.json").read_text())
    manifest["version"] = new
    (artifacts / new / "manifest.json").write_text(json.dumps(manifest))
    set_current(artifacts, new)
    return new


def test_hot_reload_under_requests(artifacts_copy: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(artifacts_copy)
    service = client.app.state.service
    old = service.version()
    uid = service.sample_user_ids(1)[0]
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            statuses.append(client.get(f"/api/users/{uid}/recommendations?size=10").status_code)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    new = _publish_copy(artifacts_copy, "reload01")
    resp = client.post("/admin/reload", headers=AUTH)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert resp.status_code == 200 and resp.json() == {"version": new, "changed": True}
    assert service.version() == new != old
    assert statuses and set(statuses) == {200}
    assert client.get("/readyz").json()["version"] == new


def test_corrupted_bundle_is_refused_and_old_stays(artifacts_copy: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(artifacts_copy)
    old = client.app.state.service.version()
    bad = _publish_copy(artifacts_copy, "corrupt1")
    with open(artifacts_copy / bad / MOVIES, "ab") as fh:
        fh.write(b"garbage")
    resp = client.post("/admin/reload", headers=AUTH)
    assert resp.status_code == 409 and "checksum" in resp.json()["error"]["message"]
    assert client.app.state.service.version() == old
    assert client.get("/api/movies/1").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_background_poll_picks_up_a_new_version(artifacts_copy: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(artifacts_copy, reload_poll_s=0.2)
    new = _publish_copy(artifacts_copy, "polled01")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and client.app.state.service.version() != new:
        time.sleep(0.1)
    assert client.app.state.service.version() == new


def test_no_bundle_is_503_and_not_ready(tmp_path: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(tmp_path / "empty")
    resp = client.get("/api/movies/1")
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "no_bundle"
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200

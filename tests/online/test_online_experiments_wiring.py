"""The recommendations route wired to the experiment registry: variants, explicit model, exposures, interleaving."""

from __future__ import annotations

from pathlib import Path

AB = """
experiments:
  - name: rank-ab
    type: ab
    salt: s1
    variants:
      - {name: a, weight: 50, model: deepfm}
      - {name: b, weight: 50, model: two_tower, recall: {als: 0}}
"""
INTERLEAVE = """
experiments:
  - name: rank-il
    type: interleaving
    salt: s2
    variants:
      - {name: a, weight: 50, model: deepfm}
      - {name: b, weight: 50, model: two_tower}
"""


def _client(tmp_path: Path, artifacts: Path, make_client, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return make_client(artifacts, experiments_file=path)


def test_ab_variant_model_and_exposures(tmp_path: Path, artifacts_copy: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    client = _client(tmp_path, artifacts_copy, make_client, AB)
    users = client.app.state.service.sample_user_ids(40)
    seen = {}
    for uid in users:
        body = client.get(f"/api/users/{uid}/recommendations?size=5").json()
        assert body["experiment"] == "rank-ab" and body["variant"] in ("a", "b")
        assert body["model"] == {"a": "deepfm", "b": "two_tower"}[body["variant"]]
        if body["variant"] == "b":
            assert all("als" not in i["channels"] for i in body["items"])
        seen[uid] = body
        # stable: same user, same variant
        assert client.get(f"/api/users/{uid}/recommendations?size=5").json()["variant"] == body["variant"]
    assert {b["variant"] for b in seen.values()} == {"a", "b"}
    # an explicit model wins over the variant's, and says so
    uid = next(u for u, b in seen.items() if b["variant"] == "b")
    assert client.get(f"/api/users/{uid}/recommendations?size=5&model=deepfm").json()["model"] == "deepfm"
    clicked = seen[uid]["items"][0]["movieId"]
    assert client.post("/api/events", json={"userId": uid, "movieId": clicked, "type": "click"}).status_code == 202
    report = client.get("/api/experiments/rank-ab/report").json()
    by_name = {v["name"]: v for v in report["variants"]}
    assert by_name["a"]["exposures"] + by_name["b"]["exposures"] >= 5 * 2 * len(users)
    assert by_name["b"]["clicks"] == 1


def test_interleaving_merges_two_rankers(tmp_path: Path, artifacts_copy: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    client = _client(tmp_path, artifacts_copy, make_client, INTERLEAVE)
    uid = client.app.state.service.sample_user_ids(1)[0]
    body = client.get(f"/api/users/{uid}/recommendations?size=10").json()
    assert body["experiment"] == "rank-il" and body["variant"] == "interleaved"
    assert body["model"] == "deepfm+two_tower" and len(body["items"]) == 10
    click = body["items"][0]["movieId"]
    client.post("/api/events", json={"userId": uid, "movieId": click, "type": "click"})
    report = client.get("/api/experiments/rank-il/report").json()
    assert sum(v["clicks"] for v in report["variants"]) == 1
    assert sum(v["exposures"] for v in report["variants"]) == 10

"""Fast tests of the pages over the real app (create_app over a bundle), without a browser."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from webui_support import EXPERIMENT, HOSTILE_TITLE


def _first_movie_id(client: TestClient) -> int:
    html = client.get("/").text
    return int(re.search(r'href="/movies/(\d+)"', html).group(1))  # type: ignore[union-attr]


def _some_user_id(client: TestClient) -> int:
    html = client.get("/").text
    return int(re.search(r'data-pick-user="(\d+)"', html).group(1))  # type: ignore[union-attr]


def test_every_page_renders(app_client: TestClient) -> None:
    movie_id = _first_movie_id(app_client)
    user_id = _some_user_id(app_client)
    paths = ["/", f"/?user={user_id}", "/browse", "/browse?sort=rating&page=2", f"/movies/{movie_id}",
             f"/users/{user_id}", "/search?q=a", "/search", "/experiments", "/report"]
    paths += [f"/movies/{movie_id}?model={m}" for m in ("item2vec", "deepwalk", "node2vec", "als", "genre")]
    for path in paths:
        response = app_client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert response.headers["content-type"].startswith("text/html"), path
        assert 'class="site-header"' in response.text


def test_home_rows_and_personal_row(app_client: TestClient) -> None:
    anonymous = app_client.get("/").text
    assert 'id="popular"' in anonymous and anonymous.count('class="card ') >= 24
    user_id = _some_user_id(app_client)
    personal = app_client.get(f"/?user={user_id}").text
    assert "Recommended for you" in personal
    assert f'data-experiment="{EXPERIMENT}"' in personal


def test_user_page_names_variant_model_and_channels(app_client: TestClient) -> None:
    user_id = _some_user_id(app_client)
    html = app_client.get(f"/users/{user_id}").text
    variant = re.search(r'class="variant-name">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    assert variant in {"control", "treatment"}
    expected_model = {"control": "deepfm", "treatment": "two_tower"}[variant]
    assert f'class="model-name">{expected_model}<' in html
    assert re.search(r'class="chip chip-[a-z_0-9]+">[a-z_0-9]+<', html)
    assert 'id="history"' in html


def test_similar_models_give_different_lists(app_client: TestClient) -> None:
    movie_id = _first_movie_id(app_client)
    lists = {}
    for model in ("item2vec", "als", "genre"):
        html = app_client.get(f"/movies/{movie_id}?model={model}").text
        section = html.split('id="similar-list"', 1)[1]
        lists[model] = re.findall(r'data-movie-id="(\d+)"', section)
        assert lists[model], model
    assert lists["item2vec"] != lists["als"] != lists["genre"]


def test_titles_and_queries_are_escaped(app_client: TestClient, hostile_movie_id: int | None) -> None:
    html = app_client.get("/search", params={"q": '"><svg onload=alert(1)>'}).text
    assert "<svg onload" not in html and "&lt;svg onload=alert(1)&gt;" in html
    if hostile_movie_id is None:
        pytest.skip("the real pipeline's bundle has no hostile title")
    page = app_client.get(f"/movies/{hostile_movie_id}").text
    assert HOSTILE_TITLE not in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; &lt;b&gt;Friends&lt;/b&gt;" in page
    poster = app_client.get(f"/posters/{hostile_movie_id}.svg")
    assert ET.fromstring(poster.text).get("aria-label") == HOSTILE_TITLE


@pytest.mark.parametrize("path", ["/movies/99999999", "/movies/abc", "/users/99999999", "/users/0"])
def test_unknown_ids_render_friendly_404(app_client: TestClient, path: str) -> None:
    response = app_client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Back to the home page" in response.text and '"error"' not in response.text


def test_api_404_stays_json(app_client: TestClient) -> None:
    response = app_client.get("/api/movies/99999999")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_posters_are_valid_svg(app_client: TestClient) -> None:
    movie_id = _first_movie_id(app_client)
    response = app_client.get(f"/posters/{movie_id}.svg")
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "href" not in response.text  # self-contained: no external references
    assert app_client.get("/posters/99999999.svg").status_code == 404


def test_report_page_and_image_guard(app_client: TestClient) -> None:
    html = app_client.get("/report").text
    assert '<table class="table metrics">' in html
    plots = re.findall(r'src="/report/img/([^"]+)"', html)
    assert plots
    image = app_client.get(f"/report/img/{plots[0]}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    for path in ["/report/img/..%2Fmanifest.json", "/report/img/..%2F..%2Fcurrent", "/report/img/metrics.json",
                 "/report/img/%2Fetc%2Fpasswd", "/report/img/.hidden.png", "/report/img/..%5Cmanifest.json"]:
        response = app_client.get(path)
        assert response.status_code == 404, path
        assert "version" not in response.text or "<html" in response.text, path


def test_click_on_recommendation_counts_in_experiments_page(app_client: TestClient) -> None:
    user_id = _some_user_id(app_client)
    html = app_client.get(f"/users/{user_id}").text
    variant = re.search(r'class="variant-name">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    movie_id = int(re.search(r'class="card-link rec-link" href="/movies/(\d+)"', html).group(1))  # type: ignore[union-attr]

    def clicks() -> int:
        page = app_client.get("/experiments").text
        row = page.split(f'<tr data-variant="{variant}">', 1)[1]
        return int(re.search(r'class="num clicks">(\d+)<', row).group(1))  # type: ignore[union-attr]

    before = clicks()
    response = app_client.post("/api/events", json={"userId": user_id, "movieId": movie_id, "type": "click",
                                                   "experiment": EXPERIMENT, "variant": variant})
    assert response.status_code < 300, response.text
    assert clicks() == before + 1

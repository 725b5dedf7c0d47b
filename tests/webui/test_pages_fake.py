"""Fast page tests over a fake service: status codes, escaping, 404 pages, posters, report-image guard."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import anyio
import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient
from webui_fakes import HOSTILE_TITLE, FakeExperiments, FakeService

from webui.rendering import STATIC_DIR
from webui.routes import router

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    report_dir = tmp_path / "bundle" / "report"
    report_dir.mkdir(parents=True)
    (report_dir / "roc.png").write_bytes(PNG)
    (tmp_path / "bundle" / "secret.png").write_bytes(PNG)  # a file next to the report dir, never served
    app = FastAPI()
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.state.service = FakeService(report_dir)
    app.state.experiments = FakeExperiments()
    app.state.rank_limiter = anyio.CapacityLimiter(2)  # what online.app.create_app sets
    return TestClient(app)


@pytest.mark.parametrize(
    "path", ["/", "/?user=3", "/browse", "/browse?genre=Comedy&sort=rating&page=2", "/movies/1",
             "/movies/1?model=genre", "/users/3", "/search?q=number", "/search", "/experiments", "/report"]
)
def test_pages_render_html(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert "<header" in response.text and 'src="/static/app.js"' in response.text


def test_hostile_title_is_escaped_everywhere(client: TestClient) -> None:
    for path in ["/", "/movies/7", "/users/3", "/search?q=script", "/movies/6"]:
        html = client.get(path).text
        assert HOSTILE_TITLE not in html, path
        assert "<script>alert" not in html, path
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Friends" in client.get("/movies/7").text


def test_search_query_is_escaped(client: TestClient) -> None:
    html = client.get("/search", params={"q": "<img src=x onerror=alert(1)>"}).text
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize("path", ["/movies/999", "/movies/abc", "/movies/-1", "/users/5000", "/users/x1",
                                  "/users/700"])
def test_unknown_ids_get_friendly_404_page(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Back to the home page" in response.text
    assert "Traceback" not in response.text


def test_home_with_user_shows_recommendations(client: TestClient) -> None:
    anonymous = client.get("/").text
    personal = client.get("/?user=3").text
    assert "Recommended for you" not in anonymous
    assert "Recommended for you" in personal and 'data-variant="control"' in personal
    client.cookies.set("sparrow_user", "4")
    assert "user 4" in client.get("/").text


def test_movie_page_has_links_rating_and_model_switch(client: TestClient) -> None:
    html = client.get("/movies/2?model=deepwalk").text
    assert "https://www.imdb.com/title/tt0000002/" in html
    assert "https://www.themoviedb.org/movie/1002" in html
    assert 'class="rating-widget' in html
    for model in ["item2vec", "deepwalk", "node2vec", "als", "genre"]:
        assert f'data-model="{model}"' in html
    assert 'id="similar-list" data-model="deepwalk"' in html
    # the similar list differs between models
    item2vec = client.get("/movies/2?model=item2vec").text.split('id="similar-list"')[1]
    deepwalk = html.split('id="similar-list"')[1]
    assert item2vec != deepwalk


def test_user_page_shows_variant_model_and_channels(client: TestClient) -> None:
    html = client.get("/users/3").text
    assert 'class="variant-name">control<' in html
    assert 'class="model-name">deepfm<' in html
    assert 'class="chip chip-embedding">embedding<' in html
    assert 'id="history"' in html and "2001-09-09" in html


def test_experiments_page_has_counts_and_chart(client: TestClient) -> None:
    html = client.get("/experiments").text
    assert '<td class="num exposures">100</td>' in html and '<td class="num clicks">9</td>' in html
    chart = html[html.index('<svg class="chart"') : html.index("</svg>", html.index('<svg class="chart"')) + 6]
    root = ET.fromstring(chart)
    assert len(root.findall("{http://www.w3.org/2000/svg}rect")) == 2


def test_report_page_tables_and_image(client: TestClient) -> None:
    html = client.get("/report").text
    assert "roc_auc" in html and "0.7123" in html
    assert 'src="/report/img/roc.png"' in html
    image = client.get("/report/img/roc.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content == PNG


@pytest.mark.parametrize(
    "path",
    ["/report/img/..%2Fsecret.png", "/report/img/%2E%2E%2Fsecret.png", "/report/img/../secret.png",
     "/report/img/..%2F..%2Fbundle%2Fsecret.png", "/report/img/.hidden.png", "/report/img/roc.txt", "/report/img/missing.png",
     "/report/img/%2Fetc%2Fpasswd", "/report/img/..%5Csecret.png"],
)
def test_report_image_refuses_path_traversal(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.content != PNG


def test_poster_is_valid_svg_with_escaped_title(client: TestClient) -> None:
    response = client.get("/posters/7.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("aria-label") == HOSTILE_TITLE
    assert "<script" not in response.text


@pytest.mark.parametrize("path", ["/posters/999.svg", "/posters/abc.svg", "/posters/1.png"])
def test_unknown_poster_is_404_svg(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    ET.fromstring(response.text)


def test_static_assets_are_served(client: TestClient) -> None:
    for path in ["/static/style.css", "/static/app.js", "/static/favicon.svg"]:
        assert client.get(path).status_code == 200

"""The web UI in a real headless Chromium (Playwright) against `sparrow serve` over a bundle.

One journey through the site, as a visitor would take it: home -> a movie -> switch the
similar-movie model -> pick a user -> their page -> rate -> recommendations change -> click a
recommendation -> the experiments page counts it; plus search, report, a 404 and an anonymous
rating. Throughout: no console errors, no script from a title ever runs, and no request leaves
the server's host. Screenshots of every page land in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sparrow_testing import free_port, require, stop_process
from webui_support import HOSTILE_TITLE, REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
SHOTS = REPO / "test-artifacts" / "screenshots"
TIMEOUT_MS = 20_000


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path


@pytest.fixture(scope="module")
def server(webui_artifacts: Path, experiments_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`sparrow serve` on a free loopback port over the test bundle; stopped (and waited for) at the end."""
    require(Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK), f"Chromium at {CHROMIUM}")
    port = free_port()
    log = tmp_path_factory.mktemp("webui-server") / "server.log"
    env = {**os.environ, "SPARROW_RELOAD_POLL_S": "0", "SPARROW_LOG_LEVEL": "WARNING", "OMP_NUM_THREADS": "1"}
    env.pop("SPARROW_REDIS_URL", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sparrow.cli", "serve", "--artifacts", str(webui_artifacts), "--host", "127.0.0.1",
             "--port", str(port), "--experiments-file", str(experiments_file)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sparrow serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"sparrow serve not ready in 120 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield Server(base, proc, log)
    finally:
        stop_process(proc, timeout_s=10)


@dataclass
class Watch:
    """What the browser did: console errors, page errors, dialogs, and every request URL."""

    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator:  # type: ignore[type-arg]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _watched_page(browser, watch: Watch, **context_args):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 860}, **context_args)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("console", lambda msg: msg.type == "error" and watch.console_errors.append(f"{page.url}: {msg.text}"))
    page.on("pageerror", lambda exc: watch.console_errors.append(f"{page.url}: {exc}"))
    page.on("request", lambda req: watch.requests.append(req.url))

    def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return page


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _ids(page, selector: str) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(x) for x in page.eval_on_selector_all(selector, "els => els.map(e => e.dataset.movieId)")]


def _clicks(page, base: str, variant: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(exposures, clicks) of ``variant`` as the experiments page shows them."""
    page.goto(base + "/experiments")
    row = page.locator(f'tr[data-variant="{variant}"]').first
    return int(row.locator(".exposures").inner_text()), int(row.locator(".clicks").inner_text())


def test_visitor_journey(server: Server, browser, hostile_movie_id: int | None) -> None:  # type: ignore[no-untyped-def]
    watch = Watch()
    page = _watched_page(browser, watch)
    base = server.base

    # home: rows of poster cards
    page.goto(base + "/")
    assert page.locator("#popular .card").count() >= 6
    assert page.locator("section.row").count() >= 3
    _shot(page, "01-home")

    # follow a card to its movie page
    page.locator("#popular .card a.card-link").first.click()
    page.wait_for_url(re.compile(r"/movies/\d+"))
    movie_id = int(page.url.rsplit("/", 1)[1].split("?")[0])
    assert page.locator("h1.movie-title").inner_text()
    assert page.locator(".rating-widget .star").count() == 5
    _shot(page, "02-movie")

    # switch the similar-movie model: the list changes in place (fetched from the API)
    before = _ids(page, "#similar-list .card")
    assert before, "item2vec similar list is empty"
    lists = {"item2vec": before}
    for model in ("als", "genre"):
        page.locator(f'.model-switch .tab[data-model="{model}"]').click()
        page.wait_for_selector(f'#similar-list[data-model="{model}"]:not(.loading)')
        lists[model] = _ids(page, "#similar-list .card")
        assert lists[model], f"{model} similar list is empty"
        assert page.locator(f'.model-switch .tab[data-model="{model}"]').get_attribute("aria-selected") == "true"
    assert lists["item2vec"] != lists["als"] and lists["als"] != lists["genre"], lists
    assert "model=genre" in page.url
    _shot(page, "03-movie-similar-genre")

    # pick a user in the header: home shows "recommended for you"
    page.goto(base + "/")
    user_id = int(page.locator("[data-pick-user]").first.get_attribute("data-pick-user"))
    page.fill("#user-picker-input", str(user_id))
    page.locator("#user-picker button[type=submit]").click()
    page.wait_for_selector("#recommended .rec-card")
    assert f"user {user_id}" in page.locator("#recommended h2").inner_text()
    _shot(page, "04-home-for-user")

    # the user's page: variant, model and per-item "why"
    page.goto(f"{base}/users/{user_id}")
    variant = page.locator("#rec-badges .variant-name").inner_text()
    assert variant in {"control", "treatment"}
    assert page.locator("#rec-badges .model-name").inner_text() == {"control": "deepfm", "treatment": "two_tower"}[variant]
    assert page.locator("#rec-list .why .chip").count() > 0
    recs_before = _ids(page, "#rec-list .rec-card")
    assert len(recs_before) >= 5
    _shot(page, "05-user")

    # rate the top recommendation on the user page: the list is re-fetched and changes
    page.locator("#rec-list .rec-cell").first.locator('.star[data-value="5"]').click()
    page.wait_for_selector("#rec-list[data-refreshed]")
    recs_after = _ids(page, "#rec-list .rec-card")
    assert recs_after and recs_after != recs_before
    assert recs_before[0] not in recs_after, "a movie the user just rated is recommended again"
    _shot(page, "06-user-after-rating")

    # rate the next recommendation from its movie page, as the picked user: the user page changes
    target = recs_after[0]
    page.goto(f"{base}/movies/{target}")
    page.locator('.rating-widget .star[data-value="5"]').click()
    page.wait_for_selector(f".rating-status a[href='/users/{user_id}']")
    page.goto(f"{base}/users/{user_id}")
    recs_final = _ids(page, "#rec-list .rec-card")
    assert target not in recs_final and recs_final != recs_after

    # a few more visitors see their recommendations (exposures for both variants), then one click counts
    page.goto(base + "/")
    for other in page.eval_on_selector_all("#picker-users option", "els => els.map(e => e.value)")[:8]:
        page.goto(f"{base}/users/{other}")
    exposures0, clicks0 = _clicks(page, base, variant)
    assert exposures0 > 0
    page.goto(f"{base}/users/{user_id}")
    clicked = page.locator("#rec-list a.rec-link").first
    clicked_id = int(clicked.get_attribute("data-movie-id"))
    clicked.click()
    page.wait_for_url(f"**/movies/{clicked_id}")
    exposures1, clicks1 = _clicks(page, base, variant)
    assert clicks1 == clicks0 + 1, (clicks0, clicks1)
    assert page.locator(f'svg.chart rect[data-variant="{variant}"]').count() == 1
    _shot(page, "07-experiments")

    # search from the header
    page.goto(base + "/")
    word = page.locator("#popular .card-title").first.inner_text().split()[0]
    page.fill(".search-box input[name=q]", word)
    page.press(".search-box input[name=q]", "Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    assert page.locator("#search-results .card").count() >= 1
    _shot(page, "08-search")

    # the model report: metrics tables and the plots of the bundle
    page.goto(base + "/report")
    assert page.locator("table.metrics").count() >= 1
    _shot(page, "09-report")

    # a title full of markup shows as text and runs nothing
    if hostile_movie_id is not None:
        page.goto(f"{base}/movies/{hostile_movie_id}")
        assert page.locator("h1.movie-title").inner_text().startswith(HOSTILE_TITLE)
        assert page.locator("h1.movie-title b").count() == 0

    # a small screen still gets a usable layout (no horizontal page scroll)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/movies/{movie_id}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    _shot(page, "10-movie-mobile")
    page.set_viewport_size({"width": 1280, "height": 860})

    # unknown movie: a friendly 404 page (its own console line about the 404 is expected)
    errors_so_far = len(watch.console_errors)
    response = page.goto(base + "/movies/987654321")
    assert response is not None and response.status == 404
    assert "Movie not found" in page.locator("h1").inner_text()
    _shot(page, "11-not-found")
    del watch.console_errors[errors_so_far:]

    page.context.close()
    assert not watch.console_errors, watch.console_errors
    assert not watch.dialogs, f"a script ran: {watch.dialogs}"
    host = urlparse(base).netloc
    foreign = [u for u in watch.requests if urlparse(u).scheme not in ("data", "blob") and urlparse(u).netloc != host]
    assert not foreign, foreign


def test_anonymous_visitor_is_asked_for_a_user_id(server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    watch = Watch()
    page = _watched_page(browser, watch)
    base = server.base
    page.goto(base + "/")
    page.locator("#popular .card a.card-link").first.click()
    page.wait_for_url(re.compile(r"/movies/\d+"))
    movie_id = int(page.url.rsplit("/", 1)[1])
    widget = page.locator(".rating-widget")
    widget.locator('.star[data-value="4"]').click()
    assert widget.locator(".ask-user").is_visible()
    assert "user id" in widget.locator(".rating-status").inner_text()
    new_user = 900_000 + movie_id  # a visitor the offline data has never seen
    widget.locator(".ask-user-input").fill(str(new_user))
    widget.locator('.star[data-value="4"]').click()
    page.wait_for_selector(f".rating-status a[href='/users/{new_user}']")
    # the id is remembered: the header now shows it and the new user's page exists
    page.goto(f"{base}/users/{new_user}")
    assert page.locator("#rec-list .rec-card").count() > 0
    assert page.locator("#user-picker-input").input_value() == str(new_user)
    page.context.close()
    assert not watch.console_errors, watch.console_errors

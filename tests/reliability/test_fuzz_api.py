"""API fuzzing: schemathesis over the whole OpenAPI schema of a running server, plus hand-made hostile inputs.

Promise: whatever a client sends, the service never answers 5xx (no bundle/store trouble here), every
4xx body is ``{"error": {"code", "message"}}``, and every response conforms to the published schema
(status code declared, content type, body schema). Checked for both stores (FileStore and RedisStore)
against a real uvicorn server on a loopback port, with positive (valid) and negative (invalid) data.

The number of examples per operation and mode is ``SPARROW_FUZZ_EXAMPLES`` (default 12; generation is
derandomized so CI is repeatable — raise it locally for a deeper run).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from reliability_support import ADMIN_TOKEN, ThreadServer, error_shape_problem, publish_to_redis

from sparrow.settings import Settings

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("SPARROW_FUZZ_EXAMPLES", "12"))
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _error_format(response: Any, case: Any) -> None:
    """Every 4xx/5xx body is the JSON error format (``/readyz`` 503 is its own declared ``Ready`` body)."""
    if response.status_code < 400 or case.operation.path == "/readyz":
        return
    problem = error_shape_problem(httpx.Response(response.status_code, content=response.content))
    assert problem is None, f"{case.method} {case.formatted_path}: {problem}"


def _fuzz_operation(base: str, operation: Any, mode: Any, checks: list[Any], examples: int) -> int:
    """Hypothesis over one operation in one generation mode; the number of requests sent."""
    sent = 0

    @settings(
        max_examples=examples, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        response = case.call(base_url=base, headers=AUTH, timeout=30)
        case.validate_response(response, checks=checks)
        _error_format(response, case)

    run()
    return sent


def fuzz(base: str, examples: int = EXAMPLES) -> tuple[int, list[str]]:
    """Run every operation of ``base``'s schema in both modes; return (requests sent, failures)."""
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    # not `negative_data_rejection`: request models validate in pydantic's lax mode on purpose ("4" and
    # true coerce to 4 and 1, as a browser form sends them); the promise is about the answers
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    sent = 0
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, f"the schema lists only {len(operations)} operations"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                sent += _fuzz_operation(base, operation, mode, checks, examples)
            except Unsatisfiable:
                continue  # no invalid input exists (an operation without parameters or body)
            except BaseException as exc:  # schemathesis raises a BaseExceptionGroup; collect them all
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                failures.append(f"[{mode.value}] {operation.label}: {str(exc)[:1500]}")
    return sent, failures


def test_fuzz_file_store(artifacts: Path, thread_server: Callable[..., ThreadServer]) -> None:
    server = thread_server(artifacts)
    sent, failures = fuzz(server.base)
    print(f"fuzz (file store): {sent} requests, {len(failures)} failing operations")
    assert not failures, "\n\n".join(failures)


@pytest.mark.redis
def test_fuzz_redis_store(artifacts: Path, redis_url: str, thread_server: Callable[..., ThreadServer]) -> None:
    publish_to_redis(artifacts, redis_url)
    server = thread_server(artifacts, redis_url=redis_url)
    assert server.service.store.kind == "redis"
    sent, failures = fuzz(server.base)
    print(f"fuzz (redis store): {sent} requests, {len(failures)} failing operations")
    assert not failures, "\n\n".join(failures)


# --- hand-made hostile inputs ----------------------------------------------------------------------

HOSTILE_GETS = [
    "/api/users/1/recommendations?size=1000000000000",
    "/api/users/1/recommendations?size=99999999999999999999999999999999",
    "/api/users/1/recommendations?size=-5",
    "/api/users/1/recommendations?size=abc",
    "/api/users/1/recommendations?size=1e9",
    "/api/movies?size=10000&page=99999999999",
    "/api/movies?page=-1",
    "/api/movies/-1",
    "/api/movies/0",
    "/api/movies/abc",
    "/api/movies/1.5",
    "/api/movies/99999999999999999999999999",
    "/api/movies/%00",
    "/api/users/-7",
    "/api/users/NaN",
    "/api/users/9223372036854775807/recommendations",
    "/api/movies/1/similar?model=../../etc/passwd",
    "/api/movies/1/similar?model=%27%3B%20DROP%20TABLE",
    "/api/search?q=" + "a" * 10_000,
    "/api/search?q=%F0%9F%8E%AC%E2%80%AE%00",
    "/api/search?q=%ff%fe",
    "/api/search?q=",
    "/api/movies?genre=" + "Комедия" * 50,
    "/api/movies?genre=%00%01",
    "/api/experiments/" + "x" * 5000 + "/report",
    "/getmovie?id=-1",
    "/getmovie?id=abc",
    "/getuser?id=0",
    "/getrecforyou?id=1&size=100000&model=%3Cscript%3E",
    "/getsimilarmovie?movieId=1&model=nope",
    "/getrecommendation?genre=Action&sortby=" + "z" * 21,
    "/api/" + "deep/" * 2000,
    "/readyz?" + "&".join(f"p{i}=v" for i in range(2000)),
]

HOSTILE_PAGES = ["/movies/-1", "/movies/abc", "/users/0", "/users/abc", "/search?q=" + "<b>" * 3000,
                 "/report/img/..%2F..%2Fmanifest.json", "/report/img/.hidden.png", "/posters/abc.svg"]


@pytest.fixture(scope="module")
def hostile_server(rel_artifacts: Path, no_experiments: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One server for all hostile-input tests (a 4 KiB body limit; writes go to a private copy)."""
    target = tmp_path_factory.mktemp("hostile") / "artifacts"
    shutil.copytree(rel_artifacts, target)
    server = ThreadServer(Settings(
        artifacts=target, reload_poll_s=0, experiments_file=no_experiments, admin_token=ADMIN_TOKEN,
        log_level="WARNING", ann_index="flat", max_body_bytes=4096,
    ))
    yield server
    server.stop()


@pytest.mark.parametrize("path", HOSTILE_GETS)
def test_hostile_get_is_a_json_4xx(hostile_server: ThreadServer, path: str) -> None:
    response = httpx.get(hostile_server.base + path, timeout=30)
    assert response.status_code < 500, f"{path[:80]}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        assert error_shape_problem(response) is None, f"{path[:80]}: {error_shape_problem(response)}"
    assert "Traceback" not in response.text


@pytest.mark.parametrize("path", HOSTILE_PAGES)
def test_hostile_page_is_not_a_5xx(hostile_server: ThreadServer, path: str) -> None:
    response = httpx.get(hostile_server.base + path, timeout=30)
    assert response.status_code < 500, f"{path[:80]}: {response.status_code} {response.text[:300]}"
    assert "Traceback" not in response.text
    assert "<b><b>" not in response.text  # the query is shown escaped, if at all


def test_very_long_url_is_refused_or_handled(hostile_server: ThreadServer) -> None:
    """200 kB of query string (over what httpx even sends): refused by the HTTP layer or a 4xx, never 5xx."""
    request = b"GET /api/search?q=" + b"x" * 200_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", hostile_server.port), timeout=30) as sock:
        try:
            sock.sendall(request)
            head = sock.recv(256)
        except (ConnectionResetError, BrokenPipeError):
            head = b""  # the server closed the connection: refused before reaching the app
    if head:
        status = int(head.split(b" ", 2)[1])
        assert status < 500, head
    # and the server still answers afterwards
    assert httpx.get(hostile_server.base + "/healthz", timeout=10).status_code == 200


HOSTILE_POSTS: list[tuple[str, dict[str, str], bytes]] = [
    ("/api/ratings", {"content-type": "text/plain"}, b"userId=1&movieId=2&rating=4"),
    ("/api/ratings", {"content-type": "application/x-www-form-urlencoded"}, b"userId=1&movieId=2&rating=4"),
    ("/api/ratings", {"content-type": "application/xml"}, b"<rating userId='1'/>"),
    ("/api/ratings", {"content-type": "application/json"}, b"{not json"),
    ("/api/ratings", {"content-type": "application/json"}, b"\xff\xfe\x00garbage"),
    ("/api/ratings", {"content-type": "application/json"}, b"[]"),
    ("/api/ratings", {"content-type": "application/json"}, b'{"userId": -1, "movieId": 1, "rating": 4}'),
    ("/api/ratings", {"content-type": "application/json"}, b'{"userId": "x", "movieId": 1, "rating": 4}'),
    ("/api/ratings", {"content-type": "application/json"}, b'{"userId": 1, "movieId": 1, "rating": 4.3}'),
    ("/api/ratings", {"content-type": "application/json"}, b'{"userId": 1, "movieId": 1, "rating": 1e308}'),
    ("/api/ratings", {"content-type": "application/json"}, b'{"userId": 1e400, "movieId": 1, "rating": 4}'),
    ("/api/ratings", {"content-type": "application/json"}, b'{"userId": 99999999999999999999999, "movieId": 1, "rating": 4}'),
    ("/api/ratings", {"content-type": "application/json"}, b'{"userId": 1, "movieId": 999999999, "rating": 4}'),
    ("/api/events", {"content-type": "application/json"}, b'{"userId": 1, "movieId": 1, "type": "<script>"}'),
    ("/api/events", {"content-type": "application/json"},
     b'{"userId": 1, "movieId": 1, "type": "click", "experiment": "' + b"e" * 500 + b'"}'),
    ("/api/recommendations/session", {"content-type": "application/json"}, b'{"liked": []}'),
    ("/api/recommendations/session", {"content-type": "application/json"}, b'{"liked": [-1, 0, "a"]}'),
    ("/api/recommendations/session", {"content-type": "application/json"}, b'{"liked": [999999999], "size": 5}'),
    ("/api/recommendations/session", {"content-type": "application/json"}, b'{"liked": [1], "size": 100000}'),
    ("/api/recommendations/session", {"content-type": "application/json"}, b'{"liked": ' + b"[" * 500 + b"]" * 500 + b"}"),
    ("/api/movies/1", {"content-type": "application/json"}, b"{}"),  # wrong method
]


@pytest.mark.parametrize("case", range(len(HOSTILE_POSTS)), ids=lambda i: f"{HOSTILE_POSTS[i][0]}-{i}")
def test_hostile_post_is_a_json_4xx(hostile_server: ThreadServer, case: int) -> None:
    path, headers, body = HOSTILE_POSTS[case]
    response = httpx.post(hostile_server.base + path, headers=headers, content=body, timeout=30)
    assert 400 <= response.status_code < 500, f"{path} {body[:60]!r}: {response.status_code} {response.text[:300]}"
    assert error_shape_problem(response) is None, error_shape_problem(response)


def test_oversized_body_is_413(hostile_server: ThreadServer) -> None:
    """Over ``max_body_bytes`` (4 KiB here): 413 in the error format, announced or chunked."""
    big = b'{"liked": [' + b"1," * 10_000 + b'1]}'
    announced = httpx.post(hostile_server.base + "/api/recommendations/session", content=big,
                           headers={"content-type": "application/json"}, timeout=30)
    assert announced.status_code == 413, announced.text[:200]
    assert announced.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Any:
        for _ in range(100):
            yield b" " * 1024

    chunked = httpx.post(hostile_server.base + "/api/ratings", content=chunks(),
                         headers={"content-type": "application/json"}, timeout=30)
    assert chunked.status_code == 413, chunked.text[:200]
    assert error_shape_problem(chunked) is None
    # and a small body on the same server is still accepted (the limit is not a blanket refusal)
    ok = httpx.post(hostile_server.base + "/api/ratings", json={"userId": 1, "movieId": 2, "rating": 4.0}, timeout=30)
    assert ok.status_code == 202, ok.text

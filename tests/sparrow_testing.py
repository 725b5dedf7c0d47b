"""Test helpers importable from any test module (``from sparrow_testing import require``).

Kept out of conftest.py because several test folders have a conftest of their own, and
``from conftest import ...`` would pick whichever was imported first.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from sparrow.settings import Settings

TESTS = Path(__file__).resolve().parent


def services_required() -> bool:
    return os.environ.get("SPARROW_REQUIRE_SERVICES", "") == "1"


def require(condition: bool, what: str) -> None:
    """Skip (or, under SPARROW_REQUIRE_SERVICES=1, fail) when a service the test needs is missing."""
    if condition:
        return
    if services_required():
        pytest.fail(f"{what} is required (SPARROW_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    """SIGTERM ``proc`` if it still runs, SIGKILL it when it has not exited after ``timeout_s``."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_ready(
    proc: subprocess.Popen[bytes], url: str, output: Callable[[], str], timeout_s: float, interval_s: float
) -> dict[str, Any]:
    """Poll ``url`` (a server's /readyz) until 200 and return its JSON; fail with the server's log otherwise."""
    import httpx

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"sparrow serve exited with {proc.returncode}:\n{output()}")
        try:
            response = httpx.get(url, timeout=5.0)
            if response.status_code == 200:
                return dict(response.json())
            last = f"{response.status_code} {response.text[:300]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(interval_s)
    raise AssertionError(f"{url} not ready after {timeout_s}s ({last}):\n{output()}")


def load_bundle_factory(module_name: str) -> ModuleType:
    """``tests/online/bundle_factory.py`` loaded by path as ``module_name`` (``tests/`` is not a package)."""
    path = TESTS / "online" / "bundle_factory.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_with_title(source: Path, out: Path, movie_id: int, title: str) -> Path:
    """Copy a MovieLens CSV directory to ``out``, renaming movie ``movie_id`` to ``title (1999)``."""
    shutil.copytree(source, out)
    movies = out / "movies.csv"
    with movies.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        if row[0] == str(movie_id):
            row[1] = f"{title} (1999)"
    with movies.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return out


def settings_for(artifacts: Path, **values: Any) -> Settings:
    """Settings for an in-process app over ``artifacts``: no reload poller, WARNING logs; ``values`` add or override."""
    from sparrow.settings import Settings

    return Settings(**{"artifacts": artifacts, "reload_poll_s": 0, "log_level": "WARNING", **values})


@contextmanager
def app_clients() -> Iterator[Callable[[Settings], TestClient]]:
    """Yield ``open_client(settings)``: an entered TestClient over ``create_app(settings)`` (server errors
    answered, not raised); every client opened is closed on exit."""
    from fastapi.testclient import TestClient

    from online.app import create_app

    clients: list[TestClient] = []

    def open_client(settings: Settings) -> TestClient:
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.__exit__(None, None, None)


@dataclass
class RedisServer:
    """A redis-server subprocess on a free loopback port, owned by one test or session.

    With ``data_dir`` it runs with AOF persistence there (as docker-compose runs it): ``stop()`` is a
    SIGTERM (what ``docker stop`` sends), Redis flushes the AOF and exits, and ``start()`` on the same
    port reloads it — so what was acknowledged before an outage is still there.
    """

    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    data_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--daemonize", "no", "--save", ""]
        if self.data_dir is None:
            args += ["--appendonly", "no"]
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            args += ["--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(self.data_dir)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        # an AOF server may need longer to flush its file on SIGTERM
        stop_process(self.proc, timeout_s=5 if self.data_dir is None else 10)
        self.proc = None

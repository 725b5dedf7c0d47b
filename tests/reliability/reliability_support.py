"""Helpers of the reliability tests (a module, because conftest is not importable): servers, publishing.

Servers are real uvicorn servers on free loopback ports: in a thread of the test process
(:class:`ThreadServer`, cheap) or as a ``sparrow serve`` subprocess (:class:`ProcessServer`, for
RSS measurements and for the log of a separate process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sparrow_testing import free_port, stop_process, wait_ready

from sparrow.bundle import open_bundle, read_current
from sparrow.settings import Settings

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "reliability-admin-token-7f3a9c"
HOSTILE_TITLE = '<script>window.__pwned = 1; alert("pwned")</script> <img src=x onerror="window.__pwned=2">'
HOSTILE_MOVIE_ID = 1
PREFIX = "sparrow:"


def publish_to_redis(artifacts: Path, redis_url: str, version: str | None = None) -> str:
    """Load a bundle of ``artifacts`` into Redis and switch ``current`` with the real publisher."""
    from offline.publish import publish_bundle

    bundle = open_bundle(artifacts, version or read_current(artifacts))
    publish_bundle(bundle, redis_url, prefix=PREFIX, keep=2)
    return bundle.version


def error_shape_problem(response: httpx.Response) -> str | None:
    """None when a 4xx/5xx body is ``{"error": {"code": str, "message": str}}``; else what is wrong."""
    try:
        body = response.json()
    except (json.JSONDecodeError, ValueError):
        return f"{response.status_code} body is not JSON: {response.text[:200]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), str) or not isinstance(error.get("message"), str):
        return f"{response.status_code} body is not the error format: {str(body)[:200]}"
    return None


class ThreadServer:
    """A uvicorn server over ``create_app(settings)`` in a thread of this process, on a free port."""

    def __init__(self, settings: Settings) -> None:
        import uvicorn

        from online.app import create_app

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", timeout_keep_alive=30
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.02)

    @property
    def service(self) -> Any:
        return self.app.state.service

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


class ProcessServer:
    """``python -m sparrow.cli serve`` as a subprocess (its own RSS, its own log file)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SPARROW_")}
        full_env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
        full_env.update(env)
        full_env.update({"SPARROW_PORT": str(self.port), "SPARROW_HOST": "127.0.0.1"})
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sparrow.cli", "serve"], env=full_env, cwd=REPO,
            stdout=self._out, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 120.0) -> dict[str, Any]:
        """Poll ``/readyz`` until 200; fail with the server's log otherwise."""
        return wait_ready(self.proc, self.base + "/readyz", lambda: self.output()[-3000:], timeout_s, interval_s=0.3)

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc, timeout_s=15)
        self._out.close()

"""A real `sparrow serve` subprocess on a free loopback port, for the deploy end-to-end tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import redis
from compose_helpers import VENV_BIN
from sparrow_testing import stop_process, wait_ready

from sparrow.redis_keys import RedisKeys
from sparrow.settings import Settings

READY_TIMEOUT_S = 180.0  # TensorFlow import + SavedModel loads on a busy 2-core machine


def redis_current(redis_url: str) -> str | None:
    """The version Redis names as `current` (what every replica serves)."""
    client = redis.Redis.from_url(redis_url)
    try:
        key = RedisKeys(Settings().redis_prefix).current()
        raw = client.get(key)
    finally:
        client.close()
    return raw.decode() if raw else None


class ServeProcess:
    """``sparrow serve ARGS`` with ``env``; its output goes to ``log`` (shown when a test fails)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        base = {k: v for k, v in os.environ.items() if not k.startswith("SPARROW_")}
        base.update({"TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
        self._log_file = open(log, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "sparrow"), "serve", *args],
            env={**base, **env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(base_url=self.url, timeout=30.0)

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> dict[str, object]:
        """Poll /readyz until it answers 200; fail with the server's log otherwise."""
        return wait_ready(self.proc, self.url + "/readyz", self.output, timeout_s, interval_s=0.5)

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        self.client.close()
        stop_process(self.proc, timeout_s=15)
        self._log_file.close()

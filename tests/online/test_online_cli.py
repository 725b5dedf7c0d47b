"""``sparrow serve`` builds the app from settings with CLI options overriding the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner


def test_serve_passes_options_to_uvicorn(factory_artifacts: Path, no_experiments: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    from sparrow.cli import app

    calls: dict = {}

    def fake_run(application, host: str, port: int, log_level: str) -> None:  # type: ignore[no-untyped-def]
        calls.update(app=application, host=host, port=port)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setenv("SPARROW_PORT", "9999")
    monkeypatch.setenv("SPARROW_RELOAD_POLL_S", "0")
    result = CliRunner().invoke(
        app,
        ["serve", "--artifacts", str(factory_artifacts), "--port", "8123", "--ann-index", "flat",
         "--experiments-file", str(no_experiments)],
    )
    assert result.exit_code == 0, result.output
    assert calls["port"] == 8123 and calls["host"] == "127.0.0.1"
    service = calls["app"].state.service
    assert service.version() is not None and service.settings.ann_index == "flat"
    assert "http://127.0.0.1:8123/" in result.output


@pytest.mark.parametrize("bad", ["--ann-index=bogus"])
def test_serve_rejects_bad_settings(factory_artifacts: Path, bad: str) -> None:
    from sparrow.cli import app

    result = CliRunner().invoke(app, ["serve", "--artifacts", str(factory_artifacts), bad])
    assert result.exit_code != 0


def test_workers_need_redis(factory_artifacts: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With the file store each worker would keep its own nearline history: refused, naming the fix."""
    from sparrow.cli import app

    monkeypatch.delenv("SPARROW_REDIS_URL", raising=False)
    result = CliRunner().invoke(app, ["serve", "--artifacts", str(factory_artifacts), "--workers", "2"])
    assert result.exit_code == 2 and "--redis-url" in result.output


def test_workers_hand_options_to_uvicorn_workers(factory_artifacts: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Workers are separate processes: they get the app factory and the CLI options as SPARROW_* variables."""
    import os

    import uvicorn

    from sparrow.cli import app

    calls: dict = {}

    def fake_run(target, **kwargs) -> None:  # type: ignore[no-untyped-def]
        calls.update(target=target, env_port=os.environ.get("SPARROW_PORT"), **kwargs)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    for key in ("SPARROW_PORT", "SPARROW_REDIS_URL", "SPARROW_ARTIFACTS", "SPARROW_WORKERS"):
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    result = CliRunner().invoke(
        app, ["serve", "--artifacts", str(factory_artifacts), "--port", "8124", "--workers", "3",
              "--redis-url", "redis://127.0.0.1:1/0"],
    )
    assert result.exit_code == 0, result.output
    assert calls["target"] == "online.app:create_app" and calls["factory"] is True
    assert calls["workers"] == 3 and calls["port"] == 8124 and calls["env_port"] == "8124"
    assert os.environ["SPARROW_REDIS_URL"] == "redis://127.0.0.1:1/0"

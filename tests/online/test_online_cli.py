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

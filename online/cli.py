"""Online CLI: ``sparrow serve``."""

from __future__ import annotations

from pathlib import Path

import typer


def serve(
    artifacts: Path | None = typer.Option(None, help="Bundle directory (default $SPARROW_ARTIFACTS or ./artifacts)."),
    host: str | None = typer.Option(None, help="Bind address (default $SPARROW_HOST or 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default $SPARROW_PORT or 8000)."),
    redis_url: str | None = typer.Option(None, help="Serve from Redis instead of the bundle files."),
) -> None:
    """Start the FastAPI service (uvicorn)."""
    raise NotImplementedError

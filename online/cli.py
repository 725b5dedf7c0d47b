"""Online CLI: ``sparrow serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def serve(
    artifacts: Path | None = typer.Option(None, help="Bundle directory (default $SPARROW_ARTIFACTS or ./artifacts)."),
    host: str | None = typer.Option(None, help="Bind address (default $SPARROW_HOST or 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default $SPARROW_PORT or 8000)."),
    redis_url: str | None = typer.Option(None, help="Serve from Redis instead of the bundle files."),
    ann_index: str | None = typer.Option(None, help="FAISS index for embedding recall: flat | hnsw | lsh."),
    experiments_file: Path | None = typer.Option(None, help="Experiments config (YAML/JSON)."),
    workers: int | None = typer.Option(
        None, help="Worker processes (default $SPARROW_WORKERS or 1); more than 1 needs --redis-url."
    ),
) -> None:
    """Start the FastAPI service (uvicorn); CLI options override SPARROW_* environment settings."""
    import uvicorn

    from online.app import create_app
    from sparrow.settings import Settings

    overrides = {
        "artifacts": artifacts,
        "host": host,
        "port": port,
        "redis_url": redis_url,
        "ann_index": ann_index,
        "experiments_file": experiments_file,
        "workers": workers,
    }
    from pydantic import ValidationError

    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise typer.BadParameter(problems) from None
    if settings.workers > 1:
        _serve_workers(settings, {k: v for k, v in overrides.items() if v is not None})
        return
    app = create_app(settings)
    typer.echo(f"Sparrow RecSys serving {app.state.service.version() or '(no bundle yet)'} "
               f"on http://{settings.host}:{settings.port}/  (API docs: /docs)")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())


def _serve_workers(settings: Any, overrides: dict[str, Any]) -> None:
    """Several uvicorn worker processes sharing one port, each building the app from the environment.

    Nearline state must be shared by all workers, so this needs Redis: with the file store a rating
    posted to one worker would not change the next recommendation served by another.
    """
    import os

    import uvicorn

    if not settings.redis_url:
        raise typer.BadParameter(
            f"--workers {settings.workers} needs --redis-url (or SPARROW_REDIS_URL): the file store keeps "
            "real-time history in each process, so workers would disagree"
        )
    # the workers are fresh processes: hand the CLI's overrides over as SPARROW_* variables
    for key, value in overrides.items():
        os.environ[f"SPARROW_{key.upper()}"] = str(value)
    typer.echo(f"Sparrow RecSys serving with {settings.workers} workers on http://{settings.host}:{settings.port}/")
    uvicorn.run(
        "online.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
    )

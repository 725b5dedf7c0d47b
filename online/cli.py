"""Online CLI: ``sparrow serve``."""

from __future__ import annotations

from pathlib import Path

import typer


def serve(
    artifacts: Path | None = typer.Option(None, help="Bundle directory (default $SPARROW_ARTIFACTS or ./artifacts)."),
    host: str | None = typer.Option(None, help="Bind address (default $SPARROW_HOST or 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default $SPARROW_PORT or 8000)."),
    redis_url: str | None = typer.Option(None, help="Serve from Redis instead of the bundle files."),
    ann_index: str | None = typer.Option(None, help="FAISS index for embedding recall: flat | hnsw | lsh."),
    experiments_file: Path | None = typer.Option(None, help="Experiments config (YAML/JSON)."),
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
    }
    from pydantic import ValidationError

    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise typer.BadParameter(problems) from None
    app = create_app(settings)
    typer.echo(f"Sparrow RecSys serving {app.state.service.version() or '(no bundle yet)'} "
               f"on http://{settings.host}:{settings.port}/  (API docs: /docs)")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())

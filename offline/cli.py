"""Offline CLI: ``sparrow data ...`` and ``sparrow offline ...`` (heavy imports happen inside commands).

Every failure prints one line (``error: ...``) and exits 1 — no stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from offline.params import ALL_MODELS, PipelineParams

data_app = typer.Typer(no_args_is_help=True)
offline_app = typer.Typer(no_args_is_help=True)
log = logging.getLogger("sparrow.offline")


def _fail(exc: BaseException) -> None:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    log.debug("command failed", exc_info=exc)
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _guard(action: Callable[[], Any]) -> Any:
    """Run ``action``; any exception becomes a one-line message and exit status 1."""
    try:
        return action()
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(code=130) from None
    except Exception as exc:  # noqa: BLE001 - the CLI's promise is one line, never a traceback
        _fail(exc)


def _setup_logging() -> None:
    from sparrow.settings import get_settings

    logging.basicConfig(
        level=get_settings().log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


# --- sparrow data ---------------------------------------------------------------------------------


@data_app.command("fetch")
def fetch(
    name: str = typer.Argument(..., help="ml-latest-small | ml-1m | ml-25m | ml-32m"),
    out: Path = typer.Option(Path("data"), help="Directory the dataset is unpacked into."),
    url: str | None = typer.Option(None, help="Override the download URL (e.g. a file:// mirror)."),
    sha256: str | None = typer.Option(None, help="Expected sha256 (overrides the pinned checksum)."),
    allow_unpinned: bool = typer.Option(False, help="Download a dataset with no pinned checksum; print its sha256."),
) -> None:
    """Download a MovieLens zip, check its pinned sha256 and unpack it."""
    from offline.fetch import fetch_dataset

    result = _guard(lambda: fetch_dataset(name, out, url=url, sha256=sha256, allow_unpinned=allow_unpinned))
    typer.echo(f"{name}: unpacked into {result.path} (sha256 {result.sha256}, verified by {result.verified_by})")


@data_app.command("synth")
def synth(
    users: int = typer.Option(600, help="Number of users."),
    movies: int = typer.Option(2000, help="Number of movies."),
    ratings: int = typer.Option(100_000, help="Number of ratings."),
    out: Path = typer.Option(..., help="Output directory (MovieLens CSV layout)."),
    seed: int = typer.Option(42),
) -> None:
    """Write a synthetic MovieLens-shaped dataset with a latent taste structure."""
    from offline.synth import write_synthetic_movielens

    path = _guard(lambda: write_synthetic_movielens(out, users=users, movies=movies, ratings=ratings, seed=seed))
    typer.echo(f"wrote {ratings} ratings of {users} users on {movies} movies to {path}")


# --- sparrow offline ------------------------------------------------------------------------------

_OPTS: dict[str, Any] = {
    "data_dir": typer.Option(Path("data/ml-latest-small"), help="MovieLens CSV directory."),
    "artifacts": typer.Option(Path("artifacts"), help="Where bundles are written."),
    "work_dir": typer.Option(None, help="Intermediate Parquet (default <artifacts>/work or $SPARROW_WORK_DIR)."),
    "spark_master": typer.Option(None, help="Spark master URL (default local[*] or $SPARK_MASTER)."),
    "driver_memory": typer.Option(None, help="Spark driver memory, e.g. 4g (default $SPARROW_SPARK_DRIVER_MEMORY)."),
    "redis_url": typer.Option(None, help="Redis to publish to / read nearline events from."),
    "include_events": typer.Option(False, help="Ingest nearline rating events (Redis stream or events.jsonl)."),
    "models": typer.Option(None, help=f"Comma-separated ranking models ({','.join(ALL_MODELS)}); default all."),
    "epochs": typer.Option(None, help="Training epochs per model."),
    "batch_size": typer.Option(None, help="Training batch size."),
    "learning_rate": typer.Option(None, help="Adam learning rate of the ranking models (default 1e-3)."),
    "quick": typer.Option(False, help="Small, fast settings for smoke runs (PipelineParams.quick())."),
    "similar_method": typer.Option(None, help="Similar-list engine: auto (default), exact or lsh."),
}

STEP_HELP = {
    "ingest": "Step 1: read and validate MovieLens CSV; bad rows go to the quarantine file.",
    "features": "Step 2: point-in-time sample features, the movies table and the latest user snapshot.",
    "split": "Step 3: split samples by a global time cut (train before, test after).",
    "embeddings": "Step 4: Item2vec, DeepWalk, Node2vec, ALS and user embeddings (train ratings only).",
    "similar": "Step 5: top-K similar movies per embedding (exact or Spark LSH, recall vs exact) and by genre.",
    "models": "Step 6: train, evaluate and export the ranking models (TensorFlow).",
    "bundle": "Step 7: write the versioned bundle from the work directory and switch `current`.",
    "publish": "Step 8: load the current bundle into Redis and switch its `current` version atomically.",
}


def _params(
    models: str | None, epochs: int | None, batch_size: int | None, quick: bool, similar_method: str | None = None,
    learning_rate: float | None = None,
) -> PipelineParams:
    params = PipelineParams.quick() if quick else PipelineParams()
    changes: dict[str, Any] = {}
    if similar_method is not None:
        if similar_method not in ("auto", "exact", "lsh"):
            raise ValueError(f"--similar-method must be auto, exact or lsh, not {similar_method!r}")
        changes["similar_method"] = similar_method
    if models:
        chosen = tuple(m.strip() for m in models.split(",") if m.strip())
        unknown = [m for m in chosen if m not in ALL_MODELS]
        if unknown:
            raise ValueError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(ALL_MODELS)}")
        changes["models"] = chosen
    if epochs is not None:
        changes["epochs"] = epochs
    if batch_size is not None:
        changes["batch_size"] = batch_size
    if learning_rate is not None:
        if not learning_rate > 0:
            raise ValueError(f"--learning-rate must be positive, not {learning_rate}")
        changes["learning_rate"] = learning_rate
    return params.with_(**changes) if changes else params


def _execute(steps: list[str] | None, options: dict[str, Any]) -> None:
    """Build the pipeline context from the shared options and run ``steps`` (None = all)."""
    from offline.pipeline import STEPS, make_context, run_steps
    from sparrow.settings import get_settings

    _setup_logging()
    settings = get_settings()
    params = _params(
        options["models"], options["epochs"], options["batch_size"], options["quick"], options["similar_method"],
        options["learning_rate"],
    )
    redis_url = options["redis_url"] or settings.redis_url
    ctx = make_context(
        options["data_dir"], options["artifacts"], params=params, settings=settings, redis_url=redis_url,
        include_events=options["include_events"], work_dir=options["work_dir"],
        spark_master=options["spark_master"], driver_memory=options["driver_memory"],
    )
    if steps is None:
        ctx.work.summary("steps").unlink(missing_ok=True)
        steps = [s for s in STEPS if s != "publish" or redis_url]
    run_steps(ctx, steps)
    if ctx.bundle is not None:
        typer.echo(f"bundle {ctx.bundle.version} written to {ctx.bundle.path}")


def _register(name: str, steps: list[str] | None, help_text: str) -> None:
    def command(
        data_dir: Path = _OPTS["data_dir"],
        artifacts: Path = _OPTS["artifacts"],
        work_dir: Path | None = _OPTS["work_dir"],
        spark_master: str | None = _OPTS["spark_master"],
        driver_memory: str | None = _OPTS["driver_memory"],
        redis_url: str | None = _OPTS["redis_url"],
        include_events: bool = _OPTS["include_events"],
        models: str | None = _OPTS["models"],
        epochs: int | None = _OPTS["epochs"],
        batch_size: int | None = _OPTS["batch_size"],
        learning_rate: float | None = _OPTS["learning_rate"],
        quick: bool = _OPTS["quick"],
        similar_method: str | None = _OPTS["similar_method"],
    ) -> None:
        options = dict(locals())
        _guard(lambda: _execute(steps, options))

    command.__doc__ = help_text
    command.__name__ = f"offline_{name}"
    offline_app.command(name, help=help_text)(command)


for _step, _help in STEP_HELP.items():
    _register(_step, [_step], _help)
_register("run", None, "Run every step and write a versioned bundle (and publish it when --redis-url is given).")

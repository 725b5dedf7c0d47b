"""Offline CLI: ``sparrow data ...`` and ``sparrow offline ...`` (heavy imports happen inside commands)."""

from __future__ import annotations

from pathlib import Path

import typer

data_app = typer.Typer(no_args_is_help=True)
offline_app = typer.Typer(no_args_is_help=True)


@data_app.command("fetch")
def fetch(
    name: str = typer.Argument(..., help="ml-latest-small | ml-1m | ml-25m | ml-32m"),
    out: Path = typer.Option(Path("data"), help="Directory the dataset is unpacked into."),
    url: str | None = typer.Option(None, help="Override the download URL (e.g. a file:// mirror)."),
) -> None:
    """Download a MovieLens zip, check its pinned sha256 and unpack it."""
    raise NotImplementedError


@data_app.command("synth")
def synth(
    users: int = typer.Option(600, help="Number of users."),
    movies: int = typer.Option(2000, help="Number of movies."),
    ratings: int = typer.Option(100_000, help="Number of ratings."),
    out: Path = typer.Option(..., help="Output directory (MovieLens CSV layout)."),
    seed: int = typer.Option(42),
) -> None:
    """Write a synthetic MovieLens-shaped dataset with a latent taste structure."""
    raise NotImplementedError


@offline_app.command("run")
def run(
    data_dir: Path = typer.Option(Path("data/ml-latest-small"), help="MovieLens CSV directory."),
    artifacts: Path = typer.Option(Path("artifacts"), help="Where bundles are written."),
    spark_master: str | None = typer.Option(None, help="Spark master URL (default local[*] or $SPARK_MASTER)."),
    redis_url: str | None = typer.Option(None, help="Publish the bundle to this Redis after writing it."),
) -> None:
    """Run every step and write a versioned bundle (and publish it when --redis-url is given)."""
    raise NotImplementedError

"""The offline pipeline: ingest -> features -> split -> embeddings -> similar -> models -> bundle -> publish.

Each step reads and writes Parquet under the work directory (:class:`offline.workdir.WorkDir`),
so ``sparrow offline <step>`` can run any one of them and ``sparrow offline run`` runs them all.
Each step logs one line (rows in/out, seconds); a rich progress bar follows the run.
Spark holds no memory while TensorFlow trains: a session the pipeline started itself is
stopped before the models step, which only receives Parquet paths.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.params import PipelineParams
from offline.workdir import WorkDir
from sparrow.bundle import Bundle, BundleWriter, open_bundle
from sparrow.settings import Settings, get_settings

log = logging.getLogger("sparrow.offline")

STEPS = ("ingest", "features", "split", "embeddings", "similar", "models", "bundle", "publish")
STEPS_SUMMARY = "steps"


class PipelineError(RuntimeError):
    """A step cannot run (e.g. an earlier step's output is missing)."""


@dataclass
class PipelineContext:
    """Everything a step needs; Spark is started lazily, only by steps that use it."""

    data_dir: Path
    artifacts: Path
    params: PipelineParams
    settings: Settings
    work: WorkDir
    redis_url: str | None = None
    include_events: bool = False
    spark_master: str | None = None
    driver_memory: str | None = None
    session: Any = None
    owns_spark: bool = False
    bundle: Bundle | None = None
    timings: list[dict[str, Any]] = field(default_factory=list)

    def spark(self) -> Any:
        if self.session is None:
            from offline.spark_session import get_spark

            self.session = get_spark(master=self.spark_master, driver_memory=self.driver_memory)
            self.owns_spark = True
        return self.session

    def release_spark(self) -> None:
        """Stop the session if this pipeline started it (a caller's session is left alone)."""
        if self.owns_spark and self.session is not None:
            from offline.spark_session import stop_spark

            stop_spark()
            self.session = None
            self.owns_spark = False


def make_context(
    data_dir: Path,
    artifacts: Path,
    *,
    spark: Any = None,
    params: PipelineParams | None = None,
    settings: Settings | None = None,
    redis_url: str | None = None,
    include_events: bool = False,
    work_dir: Path | None = None,
    spark_master: str | None = None,
    driver_memory: str | None = None,
) -> PipelineContext:
    settings = settings or get_settings()
    artifacts = Path(artifacts)
    root = Path(work_dir) if work_dir is not None else (settings.work_dir or artifacts / "work")
    return PipelineContext(
        data_dir=Path(data_dir),
        artifacts=artifacts,
        params=params or PipelineParams(),
        settings=settings,
        work=WorkDir(Path(root)),
        redis_url=redis_url,
        include_events=include_events,
        spark_master=spark_master,
        driver_memory=driver_memory,
        session=spark,
    )


# --- steps: each returns (rows in, rows out) -----------------------------------------------------


def _read(ctx: PipelineContext, path: Path) -> Any:
    if not path.exists():
        raise PipelineError(f"{path} is missing: run the earlier steps first (`sparrow offline run`)")
    return ctx.spark().read.parquet(str(path))


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(Path(path).glob("*.parquet"))))


def step_ingest(ctx: PipelineContext) -> tuple[int, int]:
    from offline.events import collect_events, events_digest, events_frame
    from offline.ingest import check_inputs, ingest, source_fingerprint

    check_inputs(ctx.data_dir)
    spark = ctx.spark()
    lines: list[str] = []
    if ctx.include_events:
        lines = collect_events(ctx.artifacts, ctx.redis_url, ctx.settings.redis_prefix)
    events = events_frame(spark, lines) if lines else None
    result = ingest(spark, ctx.data_dir, events)
    result.movies.write.mode("overwrite").parquet(str(ctx.work.movies))
    result.ratings.write.mode("overwrite").parquet(str(ctx.work.ratings))
    result.quarantine.coalesce(1).write.mode("overwrite").parquet(str(ctx.work.quarantine))
    spark.catalog.clearCache()
    source = source_fingerprint(ctx.data_dir, {"events": events_digest(lines)} if lines else None)
    source["events"] = len(lines)
    ctx.work.write_summary(
        "ingest",
        {"source": source, "row_counts": result.row_counts, "quarantine": result.quarantine_counts,
         "quarantine_path": str(ctx.work.quarantine)},
    )
    counts = result.row_counts
    return counts["ratings_read"] + counts["events_read"], counts["ratings"]


def step_features(ctx: PipelineContext) -> tuple[int, int]:
    from offline.features import build_movie_table, build_samples, build_user_snapshot

    movies = _read(ctx, ctx.work.movies)
    ratings = _read(ctx, ctx.work.ratings)
    build_samples(ratings, movies).write.mode("overwrite").parquet(str(ctx.work.samples))
    build_movie_table(movies, ratings).write.mode("overwrite").parquet(str(ctx.work.movie_table))
    build_user_snapshot(ratings, movies).write.mode("overwrite").parquet(str(ctx.work.users))
    counts = {
        "samples": _parquet_rows(ctx.work.samples),
        "users": _parquet_rows(ctx.work.users),
    }
    ctx.work.write_summary("features", {"row_counts": counts})
    return _parquet_rows(ctx.work.ratings), counts["samples"]


def step_split(ctx: PipelineContext) -> tuple[int, int]:
    from offline.split import SplitError, split_by_time, time_cut

    cut = time_cut(_read(ctx, ctx.work.ratings), ctx.params.train_quantile)
    train, test = split_by_time(_read(ctx, ctx.work.samples), cut)
    train.write.mode("overwrite").parquet(str(ctx.work.train))
    test.write.mode("overwrite").parquet(str(ctx.work.test))
    counts = {"train": _parquet_rows(ctx.work.train), "test": _parquet_rows(ctx.work.test)}
    if not counts["train"] or not counts["test"]:
        raise SplitError(f"time cut {cut} (quantile {ctx.params.train_quantile}) leaves an empty side: {counts}")
    ctx.work.write_summary("split", {"cut": cut, "quantile": ctx.params.train_quantile, "row_counts": counts})
    return counts["train"] + counts["test"], counts["train"] + counts["test"]


def step_embeddings(ctx: PipelineContext) -> tuple[int, int]:
    from offline.embeddings import (
        als_choice_report,
        build_item_embeddings,
        build_user_embeddings,
        embedding_seconds,
    )
    from offline.split import before

    cut = int(ctx.work.read_summary("split")["cut"])
    train_ratings = before(_read(ctx, ctx.work.ratings), cut)
    items = build_item_embeddings(ctx.spark(), train_ratings, ctx.params)
    recent = _read(ctx, ctx.work.users).select("userId", "recentPositives")
    embeddings = {**items, **build_user_embeddings(items, recent)}
    shutil.rmtree(ctx.work.embedding("x").parent, ignore_errors=True)  # no stale embedding survives
    info: dict[str, dict[str, int]] = {}
    for name, frame in sorted(embeddings.items()):
        frame.select("id", "vector").write.mode("overwrite").parquet(str(ctx.work.embedding(name)))
        first = ctx.spark().read.parquet(str(ctx.work.embedding(name))).select("vector").first()
        info[name] = {"dim": len(first["vector"]) if first else 0, "count": _parquet_rows(ctx.work.embedding(name))}
    ctx.spark().catalog.clearCache()
    summary = {"embeddings": info, "als": als_choice_report(), "cut": cut, "seconds": embedding_seconds()}
    ctx.work.write_summary("embeddings", summary)
    return _parquet_rows(ctx.work.ratings), sum(v["count"] for v in info.values())


def step_similar(ctx: PipelineContext) -> tuple[int, int]:
    from offline.similar_lists import build_similar_lists
    from offline.split import before
    from sparrow.bundle import ITEM_EMBEDDINGS

    names = ctx.work.read_summary("embeddings")["embeddings"]
    items = {n: _read(ctx, ctx.work.embedding(n)) for n in ITEM_EMBEDDINGS if n in names}
    movies = _read(ctx, ctx.work.movie_table)
    # itemcf co-occurrences come from training-time ratings only, like the embeddings
    train_ratings = before(_read(ctx, ctx.work.ratings), int(ctx.work.read_summary("split")["cut"]))
    lists, recall = build_similar_lists(ctx.spark(), items, movies, ctx.params, train_ratings)
    shutil.rmtree(ctx.work.similar("x").parent, ignore_errors=True)
    counts: dict[str, int] = {}
    for name, frame in sorted(lists.items()):
        frame.select("movieId", "similar", "scores").write.mode("overwrite").parquet(str(ctx.work.similar(name)))
        counts[name] = _parquet_rows(ctx.work.similar(name))
    ctx.spark().catalog.clearCache()
    ctx.work.write_summary("similar", {"lists": counts, "recall": recall})
    return sum(names[n]["count"] for n in items), sum(counts.values())


def step_models(ctx: PipelineContext) -> tuple[int, int]:
    from offline.models import train_and_export

    split = ctx.work.read_summary("split")
    for path in (ctx.work.train, ctx.work.test):
        if not path.exists():
            raise PipelineError(f"{path} is missing: run `sparrow offline split` first")
    ctx.release_spark()  # TensorFlow gets the memory the JVM held
    # train into a bundle-shaped staging directory; the bundle step copies it in
    writer = BundleWriter(ctx.work.root, f"models-{int(time.time())}")
    try:
        entries = train_and_export(ctx.work.train, ctx.work.test, writer, ctx.params, users=ctx.work.users)
        shutil.rmtree(ctx.work.models_stage, ignore_errors=True)
        os.replace(writer.tmp, ctx.work.models_stage)
    finally:
        writer.abort()
    ctx.work.write_summary("models", {"models": entries})
    counts = split["row_counts"]
    return counts["train"] + counts["test"], len(entries)


def step_bundle(ctx: PipelineContext) -> tuple[int, int]:
    from offline.assemble import assemble_bundle

    steps = _read_steps(ctx)
    ctx.bundle = assemble_bundle(ctx.work, ctx.artifacts, ctx.params, steps)
    return len(ctx.bundle.manifest["files"]), len(ctx.bundle.manifest["files"])


def step_publish(ctx: PipelineContext) -> tuple[int, int]:
    from offline.publish import publish_bundle

    if not ctx.redis_url:
        raise PipelineError("publish needs --redis-url (or SPARROW_REDIS_URL)")
    bundle = ctx.bundle or open_bundle(ctx.artifacts)
    publish_bundle(bundle, ctx.redis_url, prefix=ctx.settings.redis_prefix, keep=ctx.settings.redis_keep_versions)
    return len(bundle.manifest["files"]), 1


STEP_FUNCTIONS: dict[str, Callable[[PipelineContext], tuple[int, int]]] = {
    "ingest": step_ingest,
    "features": step_features,
    "split": step_split,
    "embeddings": step_embeddings,
    "similar": step_similar,
    "models": step_models,
    "bundle": step_bundle,
    "publish": step_publish,
}


def _read_steps(ctx: PipelineContext) -> list[dict[str, Any]]:
    path = ctx.work.summary(STEPS_SUMMARY)
    recorded = ctx.work.read_summary(STEPS_SUMMARY).get("steps", {}) if path.is_file() else {}
    return [recorded[s] for s in STEPS if s in recorded]


def _record_step(ctx: PipelineContext, entry: dict[str, Any]) -> None:
    path = ctx.work.summary(STEPS_SUMMARY)
    recorded = ctx.work.read_summary(STEPS_SUMMARY).get("steps", {}) if path.is_file() else {}
    recorded[entry["step"]] = entry
    ctx.work.write_summary(STEPS_SUMMARY, {"steps": recorded})


def run_step(ctx: PipelineContext, step: str) -> dict[str, Any]:
    """Run one step, log its line and record its timing for the report."""
    if step not in STEP_FUNCTIONS:
        raise PipelineError(f"unknown step {step!r}; steps: {', '.join(STEPS)}")
    ctx.work.root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows_in, rows_out = STEP_FUNCTIONS[step](ctx)
    entry = {"step": step, "rows_in": int(rows_in), "rows_out": int(rows_out),
             "seconds": round(time.perf_counter() - started, 2)}
    log.info("step %-10s rows in %10d  rows out %10d  %7.1f s", step, rows_in, rows_out, entry["seconds"])
    ctx.timings.append(entry)
    _record_step(ctx, entry)
    return entry


def run_steps(ctx: PipelineContext, steps: Sequence[str], progress: bool = True) -> list[dict[str, Any]]:
    """Run ``steps`` in order under a rich progress bar; the pipeline's own Spark is stopped at the end."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    bar = Progress(
        TextColumn("[bold]offline[/] {task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console, disable=not (progress and console.is_terminal),
    )
    try:
        with bar:
            task = bar.add_task("starting", total=len(steps))
            for step in steps:
                bar.update(task, description=step)
                run_step(ctx, step)
                bar.advance(task)
            bar.update(task, description="done")
    finally:
        ctx.release_spark()
    return ctx.timings


def run_pipeline(
    data_dir: Path,
    artifacts: Path,
    *,
    spark: Any = None,
    params: PipelineParams | None = None,
    settings: Settings | None = None,
    redis_url: str | None = None,
    include_events: bool = False,
    work_dir: Path | None = None,
    spark_master: str | None = None,
    driver_memory: str | None = None,
    progress: bool = True,
) -> Bundle:
    """Run every step and return the new bundle (published to Redis too when ``redis_url`` is given)."""
    ctx = make_context(
        data_dir, artifacts, spark=spark, params=params, settings=settings, redis_url=redis_url,
        include_events=include_events, work_dir=work_dir, spark_master=spark_master, driver_memory=driver_memory,
    )
    ctx.work.summary(STEPS_SUMMARY).unlink(missing_ok=True)  # this run's timings only
    steps = [s for s in STEPS if s != "publish" or redis_url]
    run_steps(ctx, steps, progress=progress)
    assert ctx.bundle is not None
    return ctx.bundle

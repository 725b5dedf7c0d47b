"""Run the benchmarks and write the report: ``python -m bench.run [--quick] [--only NAME ...] [--out PATH]``.

Benchmarks (in this order, as later ones reuse what earlier ones built):

* ``quality`` — temporal split, baselines, and the service trained on the training part only
  (builds the train-only bundle that ``online`` and ``ann`` reuse unless ``--artifacts`` is given);
* ``online`` — load test of the real service in a uvicorn subprocess vs a static floor;
* ``ann`` — FAISS flat/HNSW/LSH on the bundle's embeddings and synthetic catalogues;
* ``offline`` — the whole pipeline at growing sizes (``--offline-sizes``).

``--quick`` runs a smoke version of each on tiny synthetic data (CI); full mode uses
``data/ml-latest-small`` and writes ``docs/benchmarks.md`` and ``docs/img/bench-*.png``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

from bench.report import Section, write_report
from sparrow.bundle import Bundle, BundleError, open_bundle

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = ("quality", "online", "ranking", "ann", "offline")
FULL_OFFLINE_SIZES = ("ml-latest-small", "2.5m", "25m")

warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke version of every benchmark on tiny data (CI)")
    p.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these benchmarks")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md",
                   help="markdown report path; plots go to <out dir>/img/ (default docs/benchmarks.md)")
    p.add_argument("--data", type=Path, default=REPO / "data" / "ml-latest-small",
                   help="MovieLens CSV directory for quality (full mode)")
    p.add_argument("--artifacts", type=Path, default=None,
                   help="use the current bundle under this directory for online/ann instead of building one")
    p.add_argument("--offline-sizes", nargs="+", default=None,
                   help=f"sizes for the offline benchmark (full default: {' '.join(FULL_OFFLINE_SIZES)}; "
                        "quick: tiny)")
    p.add_argument("--merge", action="store_true",
                   help="keep the sections of the existing --out report that this run does not measure")
    p.add_argument("--offline-reuse", action="store_true",
                   help="offline: report a size's run saved in --work (run-<size>.json) instead of repeating it")
    p.add_argument("--no-redis", action="store_true", help="skip the RedisStore online runs")
    p.add_argument("--work", type=Path, default=None, help="keep intermediate data here (default: a temp dir)")
    p.add_argument("--reuse-bundle", action="store_true",
                   help="reuse a bundle an earlier run left under --work instead of running the pipeline again "
                        "(for re-measuring online changes only; the offline code must not have changed)")
    return p.parse_args(argv)


class Context:
    """What benchmarks share: the work dir, the data, and the bundle built (once) for them."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.quick: bool = args.quick
        self.work = work
        self.img_dir = args.out.parent / "img"
        self.img_dir.mkdir(parents=True, exist_ok=True)
        self.bundle: Bundle | None = None
        self.artifacts: Path | None = None
        self.pipeline_runs: list = []  # bench.offline_scaling.PipelineRun of every pipeline run made here
        self.bundle_error: str | None = None  # a failed build is not retried by later benchmarks
        if args.artifacts is not None:
            self.bundle = open_bundle(args.artifacts, verify=False)
            self.artifacts = args.artifacts

    def data_dir(self) -> Path:
        """Quick: a tiny synthetic MovieLens set written once; full: ``--data``."""
        if not self.quick:
            return Path(self.args.data)
        from bench.offline_scaling import SYNTH_SIZES
        from offline.synth import write_synthetic_movielens

        out = self.work / "synth-tiny"
        if not (out / "ratings.csv").is_file():
            users, movies, ratings = SYNTH_SIZES["tiny"]
            write_synthetic_movielens(out, users=users, movies=movies, ratings=ratings, seed=7)
        return out

    def build_bundle(self, data_dir: Path, artifacts: Path) -> Bundle:
        """Run the real pipeline on ``data_dir`` (child process, measured) and open the bundle."""
        from bench.offline_scaling import run_pipeline_measured

        if getattr(self.args, "reuse_bundle", False):
            try:
                bundle = open_bundle(artifacts, verify=False)
            except BundleError:
                pass  # nothing to reuse yet: build it
            else:
                logging.getLogger("bench").info("reusing bundle %s (--reuse-bundle)", bundle.path)
                if self.bundle is None:
                    self.bundle, self.artifacts = bundle, artifacts
                return bundle
        name = "tiny (train part)" if self.quick else f"{data_dir.name} (train part)"
        run = run_pipeline_measured(name, data_dir, artifacts, self.quick, self.work)
        self.pipeline_runs.append(run)
        if not run.ok:
            self.bundle_error = run.error
            raise RuntimeError(run.error)
        bundle = open_bundle(artifacts, verify=False)
        if self.bundle is None:
            self.bundle, self.artifacts = bundle, artifacts
        return bundle

    def ensure_bundle(self) -> Bundle | None:
        """The bundle for online/ann: --artifacts, else the one quality built, else build one now."""
        if self.bundle is not None or self.bundle_error is not None:
            return self.bundle
        try:
            self.build_bundle(self.data_dir(), self.work / "artifacts-bench")
        except (RuntimeError, ImportError, BundleError) as exc:
            self.bundle_error = str(exc)
            logging.getLogger("bench").warning("no bundle for online/ann: %s", exc)
        return self.bundle


def run_benchmark(name: str, ctx: Context) -> Section:
    """Run one benchmark and return its section."""
    if name == "quality":
        from bench import quality

        section, _ = quality.run(ctx.data_dir(), ctx.quick, ctx.work, ctx.img_dir, ctx.build_bundle)
        return section
    if name == "online":
        from bench import online_latency

        bundle = ctx.ensure_bundle()
        if ctx.args.no_redis or bundle is None or not online_latency.redis_available():
            section = online_latency.run(bundle, ctx.artifacts, ctx.quick, ctx.img_dir, ctx.work)
            if bundle is None:
                section.notes.append(f"No bundle, so only the floor was measured: {ctx.bundle_error}")
            return section
        return _online_with_redis(bundle, ctx)
    if name == "ranking":
        from bench import ranking_paths

        ctx.ensure_bundle()
        return ranking_paths.run(ctx.artifacts, ctx.quick)
    if name == "ann":
        from bench import ann

        return ann.run(ctx.ensure_bundle(), ctx.quick, ctx.img_dir)
    if name == "offline":
        from bench import offline_scaling

        sizes = ctx.args.offline_sizes or (["tiny"] if ctx.quick else list(FULL_OFFLINE_SIZES))
        if ctx.quick and sizes == ["tiny"] and ctx.pipeline_runs:
            # the quick quality run already timed the whole pipeline on tiny data: report it, don't redo it
            return offline_scaling.section_from_runs(ctx.pipeline_runs, [], ctx.img_dir, ctx.quick)
        return offline_scaling.run(sizes, ctx.quick, ctx.work, ctx.img_dir, REPO / "data" / "ml-latest-small",
                                   reuse=ctx.args.offline_reuse)
    raise ValueError(name)


def _online_with_redis(bundle: Bundle, ctx: Context) -> Section:
    """Online benchmark on FileStore and on RedisStore (the bundle published into a throwaway Redis)."""
    from bench import online_latency
    from bench.server import redis_server

    with redis_server(online_latency.free_port()) as url:
        try:
            from offline.publish import publish_bundle

            publish_bundle(bundle, url)
        except Exception as exc:  # noqa: BLE001 - report FileStore alone
            section = online_latency.run(bundle, ctx.artifacts, ctx.quick, ctx.img_dir, ctx.work)
            section.notes.append(f"RedisStore not measured: publishing failed ({type(exc).__name__}: {exc}).")
            return section
        return online_latency.run(bundle, ctx.artifacts, ctx.quick, ctx.img_dir, ctx.work, redis_url=url)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO: that is the load generator's own CPU, on the cores the server uses
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    names = [n for n in BENCHMARKS if not args.only or n in args.only]
    work = args.work or Path(tempfile.mkdtemp(prefix="sparrow-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    ctx = Context(args, work)
    sections: list[Section] = []
    try:
        for name in names:
            print(f"\n=== {name} ===", flush=True)
            t0 = time.perf_counter()
            try:
                section = run_benchmark(name, ctx)
            except Exception as exc:  # noqa: BLE001 - one broken benchmark must not lose the others' tables
                logging.getLogger("bench").exception("benchmark %s failed", name)
                section = Section(f"{name} (failed)", notes=[f"{type(exc).__name__}: {exc}"])
            section.seconds = time.perf_counter() - t0
            print(section.markdown(args.out.parent), flush=True)
            sections.append(section)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    command = "python -m bench.run" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    write_report(args.out, sections, args.quick, command, merge=args.merge)
    print(f"\nwrote {args.out}")
    return 0 if all(not s.title.endswith("(failed)") for s in sections) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Where does a loaded service spend its CPU? py-spy samples of the server under closed-loop recommendations.

``python -m bench.profile_online --artifacts DIR [--redis-url URL] [--model deepfm] [--seconds 12]`` starts
the bench server (:class:`bench.server.ServerProcess`, FileStore, or RedisStore with ``--redis-url``),
drives the online benchmark's own ``recommendations (<model>)`` scenario (the bundle's users, in the same
order as :func:`bench.online_latency.scenarios_for` sends them) at ``--concurrency`` closed-loop clients, records the server
with ``py-spy record --format raw`` meanwhile, and prints the share of the samples in each stage of a
request (user state from the store, recall, ranking, the rest of ``recommend()``, HTTP handling) next to the
service's own stage histograms. ``py-spy`` is not a default dependency: ``pip install -e '.[profile]'``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.loadgen import LoadSpec, run_load
from bench.online_latency import free_port, scenarios_for
from bench.server import ServerProcess, histogram_totals, stage_means_ms
from sparrow.bundle import open_bundle

# (stage, frame prefix): a sample counts for the first stage any frame of its stack starts with
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("user state (store)", ("RecommenderService._user_state ", "RedisStore.user_state ", "FileStore.user_state ")),
    ("recall", ("recall (online/pipeline.py",)),
    ("rank", ("rank (online/pipeline.py",)),
    ("rest of recommend()", ("RecommenderService.recommend ",)),
    ("HTTP, middleware, JSON", ("RequestResponseCycle.run_asgi ",)),
)
# a worker thread parked on its queue is not work; py-spy still samples it while it holds or waits for the GIL
WAIT_LEAVES = ("Condition.wait ", "Queue.get ", "Event.wait ")
IDLE = "waiting (thread pool, event loop)"
OTHER = "other"


def classify(stack: str) -> str:
    """The stage of one ``;``-joined py-spy raw stack (outermost frame first)."""
    frames = stack.split(";")
    for stage, prefixes in STAGES:
        if any(f.startswith(prefixes) for f in frames):
            return stage
    if frames and frames[-1].startswith(WAIT_LEAVES + ("Runner.run ",)):
        return IDLE
    return OTHER


def stage_shares(raw: str) -> dict[str, float]:
    """Fraction of the working samples (not :data:`IDLE`) per stage, from py-spy's ``--format raw`` output."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, n = line.rstrip().rpartition(" ")
        if stack and n.isdigit():
            counts[classify(stack)] += int(n)
    working = sum(v for k, v in counts.items() if k != IDLE)
    return {k: counts.get(k, 0) / working for k in [s for s, _ in STAGES] + [OTHER]} if working else {}


def profile(artifacts: Path, redis_url: str | None, model: str, seconds: float,
            concurrency: int) -> tuple[dict[str, float], dict[str, float], float]:
    """``(sample shares, stage histogram means ms, RPS)`` of one profiled run."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: pip install -e '.[profile]'")
    name = f"recommendations ({model})"
    scenario = next((sc for sc in scenarios_for(open_bundle(artifacts, verify=False), quick=False) if sc.name == name),
                    None)
    if scenario is None:
        raise SystemExit(f"the current bundle under {artifacts} has no ranking model {model!r}")
    recs = scenario.make
    env = {"SPARROW_ARTIFACTS": str(artifacts), **({"SPARROW_REDIS_URL": redis_url} if redis_url else {})}

    with ServerProcess(free_port(), env=env) as server, tempfile.TemporaryDirectory() as tmp:
        assert server.proc is not None
        run_load(server.url, recs, LoadSpec(concurrency, 400, 60, warmup_requests=50))
        before = histogram_totals(server.metrics_text())
        out = Path(tmp) / "profile.txt"
        rec = subprocess.Popen([spy, "record", "--pid", str(server.proc.pid), "--duration", str(int(seconds)),
                                "--rate", "200", "--format", "raw", "--output", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # py-spy attaches before the load starts
        result = run_load(server.url, recs, LoadSpec(concurrency, 10**9, seconds - 1.5))
        rec.wait(timeout=seconds + 60)
        means = stage_means_ms(before, histogram_totals(server.metrics_text()), ("stage",))
        if not out.is_file():
            raise SystemExit("py-spy wrote no profile (it needs ptrace permission on the server process)")
        return stage_shares(out.read_text()), means, result.rps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True, help="bundle directory (as SPARROW_ARTIFACTS)")
    parser.add_argument("--redis-url", default=None, help="profile RedisStore on this (published) Redis")
    parser.add_argument("--model", default="deepfm")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    shares, means, rps = profile(args.artifacts, args.redis_url, args.model, args.seconds, args.concurrency)
    store = "redis" if args.redis_url else "file"
    print(f"{store} store, recommendations ({args.model}) at {args.concurrency} concurrent: {rps:.0f} req/s")
    print("share of the server's working py-spy samples:")
    for stage, share in shares.items():
        print(f"  {stage:26s} {100 * share:5.1f}%")
    print("service stage histograms (mean ms per request):")
    for name, ms in sorted(means.items()):
        print(f"  {name:50s} {ms:7.2f}")


if __name__ == "__main__":
    main()

"""Does this machine answer slower when it idles between requests? A 5 ms endpoint, closed vs open loop.

``python -m bench.idle_latency [--requests 200]`` starts the bench server (the same uvicorn process as the
online benchmark, :data:`bench.server.BUSY_PATH`, a handler that spins 5 ms) and measures it with one
closed-loop client (no idle time between requests) and with Poisson arrivals at 40/s and 5/s. For the open
loop it splits each latency into the load generator's send lag (scheduled arrival to the request being sent)
and the request itself, so the client's share of an inflated open-loop p50 is visible.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.loadgen import LoadResult, LoadSpec, Request, run_load, run_open_loop
from bench.online_latency import free_port
from bench.server import BUSY_PATH, ServerProcess

SPIN_MS = 5.0
OPEN_RATES = (40.0, 5.0)
IN_FLIGHT = 16  # far above what 40/s of 5 ms needs, so no request waits for a slot


def busy_request(_: int) -> Request:
    return Request("GET", f"{BUSY_PATH}?ms={SPIN_MS:g}")


def split_latency(result: LoadResult) -> dict[str, np.ndarray]:
    """An open-loop run's latencies as send lag, request time and total (ms, aligned per request)."""
    total = result.latencies_ms
    lag = result.lags_ms if result.lags_ms is not None else np.zeros_like(total)
    return {"lag": lag, "request": total - lag, "total": total}


def measure(url: str, requests: int) -> list[str]:
    """One line per run: closed loop with one client, then each open-loop rate."""
    closed = run_load(url, busy_request, LoadSpec(1, requests, 60.0, warmup_requests=20))
    lines = [f"closed loop, 1 client: p50 {closed.percentile(50):.2f} ms  p99 {closed.percentile(99):.2f} ms"]
    for rate in OPEN_RATES:
        spec = LoadSpec(IN_FLIGHT, requests, max_seconds=3 * requests / rate + 5, warmup_requests=20)
        parts = split_latency(run_open_loop(url, busy_request, spec, rate))
        cells = "  ".join(f"{k} p50 {np.percentile(v, 50):.2f} p99 {np.percentile(v, 99):.2f}"
                          for k, v in parts.items() if v.size)
        lines.append(f"open loop, {rate:g}/s: {cells} (ms)")
    return lines


def main() -> None:
    """Print closed- and open-loop p50/p99 of the 5 ms endpoint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with ServerProcess(free_port()) as server:
        for line in measure(server.url, args.requests):
            print(line)


if __name__ == "__main__":
    main()

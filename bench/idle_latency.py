"""Does this machine answer slower when it idles between requests? A 5 ms endpoint, closed vs open loop.

``python -m bench.idle_latency [--requests 200]`` serves a FastAPI endpoint that spins 5 ms and measures it
with one closed-loop client (no idle time between requests) and with Poisson arrivals at 40/s and 5/s. For
the open loop it splits each latency into the load generator's wake-up lag (scheduled arrival to the
request's start) and the request itself, so the client's share of an inflated open-loop p50 is visible.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import time

import httpx
import numpy as np
from fastapi import FastAPI

from bench.loadgen import LoadSpec, Request, run_load
from bench.online_latency import free_port

app = FastAPI()
SPIN_S = 0.005


@app.get("/busy")
def busy() -> dict[str, bool]:
    """Spin (not sleep) for SPIN_S, like a CPU-bound handler."""
    end = time.perf_counter() + SPIN_S
    while time.perf_counter() < end:
        pass
    return {"ok": True}


async def _open_loop(url: str, rate: float, n: int) -> dict[str, np.ndarray]:
    lag: list[float] = []
    req: list[float] = []
    rng = random.Random(0)
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(20):
            await client.get("/busy")

        async def arrive(scheduled: float) -> None:
            start = time.perf_counter()
            await (await client.get("/busy")).aread()
            lag.append((start - scheduled) * 1e3)
            req.append((time.perf_counter() - start) * 1e3)

        tasks = []
        scheduled = time.perf_counter()
        for _ in range(n):
            scheduled += rng.expovariate(rate)
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            tasks.append(asyncio.create_task(arrive(scheduled)))
        await asyncio.gather(*tasks)
    return {"lag": np.asarray(lag), "request": np.asarray(req), "total": np.asarray(lag) + np.asarray(req)}


def main() -> None:
    """Print closed- and open-loop p50/p99 of the 5 ms endpoint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.idle_latency:app", "--port", str(port),
                               "--log-level", "warning"])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(url + "/busy")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        closed = run_load(url, lambda i: Request("GET", "/busy"), LoadSpec(1, args.requests, 30.0, warmup_requests=20))
        lat = closed.latencies_ms
        print(f"closed loop, 1 client: p50 {np.percentile(lat, 50):.2f} ms  p99 {np.percentile(lat, 99):.2f} ms")
        for rate in (40.0, 5.0):
            parts = asyncio.run(_open_loop(url, rate, args.requests))
            cells = "  ".join(f"{k} p50 {np.percentile(v, 50):.2f} p99 {np.percentile(v, 99):.2f}" for k, v in parts.items())
            print(f"open loop, {rate:g}/s: {cells} (ms)")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()

"""Benchmarks and the top-N quality evaluation; ``python -m bench.run`` writes ``docs/benchmarks.md``.

Modules: ``loadgen`` (async HTTP load generator), ``server`` (the service under test in a uvicorn
subprocess, with a static floor endpoint), ``online_latency``, ``ann``, ``metrics`` + ``baselines``
+ ``quality`` (temporal-split top-N evaluation), ``offline_scaling``, ``report`` (markdown + plots).
"""

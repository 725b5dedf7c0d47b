"""bench.tree_sampler: the run's own CPU, other processes' and steal, as shares of the machine."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

from bench.tree_sampler import CpuShares, TreeSampler, shares_between, tree_rss

FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _times(**values: float) -> dict[str, float]:
    return {f: values.get(f, 0.0) for f in FIELDS}


def test_shares_split_busy_time_between_the_tree_and_everything_else() -> None:
    before = _times(user=100, system=10, idle=500, steal=3)
    # 20 s of capacity passed: 12 busy (10 user + 2 system), 6 idle, 2 stolen
    after = _times(user=110, system=12, idle=506, steal=5)
    shares = shares_between(before, after, tree_cpu=9.0, cores=2)
    assert (round(shares.tree, 3), round(shares.other, 3), round(shares.steal, 3)) == (0.45, 0.15, 0.1)
    assert shares.disturbed()  # 25% of the machine was not the run's to use
    assert not CpuShares(0.9, 0.03, 0.02, 2).disturbed()
    # the tree can never be credited with more than the machine was busy (sampling overlap)
    capped = shares_between(before, after, tree_cpu=50.0, cores=2)
    assert capped.tree == 0.6 and capped.other == 0.0
    assert shares_between(before, before, 1.0, 2) == CpuShares(0.0, 0.0, 0.0, 2)


def _spin(cpu_seconds: float) -> None:
    start = time.process_time()
    while time.process_time() - start < cpu_seconds:
        pass


def test_the_sampler_credits_the_tree_with_its_cpu_and_other_processes_with_theirs() -> None:
    # the child (a grandchild of the sampled shell) burns 0.6 s of CPU, then idles so a sample sees its total
    code = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\ntime.sleep(1.0)"
    child = subprocess.Popen(["/bin/sh", "-c", f'"{sys.executable}" -c "{code}"; true'])
    started = time.perf_counter()
    with TreeSampler(child.pid, interval=0.1) as sampler:
        _spin(0.5)  # this test process is not in the tree: its CPU is "other"
        child.wait()
    capacity = (time.perf_counter() - started) * sampler.shares().cores
    shares = sampler.shares()
    assert sampler.tree_cpu_seconds >= 0.5
    assert sampler.peak_rss > 1_000_000
    assert shares.tree * capacity >= 0.4
    assert shares.other * capacity >= 0.35


def test_tree_rss_sums_a_process_and_its_children_and_is_zero_once_it_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        deadline = time.monotonic() + 5
        while tree_rss(child.pid) < 1_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)  # the interpreter is still loading
        alone = tree_rss(child.pid)
        assert alone > 1_000_000
        assert tree_rss(os.getpid()) - psutil.Process().memory_info().rss > alone // 2  # the child is counted
    finally:
        child.kill()
        child.wait()
    assert tree_rss(child.pid) == 0

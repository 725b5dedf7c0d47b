"""Watch a child process tree while it runs: its peak RSS and who else used the machine meanwhile.

An absolute target ("the 25M run in 30 minutes") only means something on an otherwise idle machine. On
a shared 2-core VM two things can steal time from a run without showing in its own figures: other
processes (a test suite, a second benchmark) and the hypervisor (*steal*: time the VM wanted a core and
the host gave it to another guest). :class:`TreeSampler` measures both next to the run's own CPU, so a
slow run says whether the code or the machine was slow.

Shares are of the machine's whole CPU capacity over the run (wall seconds x cores), from the kernel's
system-wide counters (``psutil.cpu_times``) at start and end; the tree's own CPU is its processes'
user + system time, sampled while they live (a process that exits between two samples loses at most
one interval), so "other" is an upper bound: busy time not seen in the tree.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

import psutil

# Linux counters that partition the machine's time (guest time is already inside user/nice)
_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
_NOT_BUSY = ("idle", "iowait", "steal")


@dataclass(frozen=True)
class CpuShares:
    """Fractions (0..1) of the machine's CPU capacity during a run."""

    tree: float  # used by the measured process tree
    other: float  # used by every other process (busy time the tree does not account for)
    steal: float  # taken by the hypervisor for other guests
    cores: int

    def disturbed(self, threshold: float = 0.1) -> bool:
        """Whether other processes and the hypervisor together took more than ``threshold`` of the machine."""
        return self.other + self.steal > threshold


def _system_times() -> dict[str, float]:
    times = psutil.cpu_times()
    return {f: float(getattr(times, f, 0.0)) for f in _FIELDS}


def tree_processes(pid: int) -> list[psutil.Process]:
    """The process ``pid`` and all its descendants now (empty when it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss(pid: int) -> int:
    """RSS (bytes) summed over ``pid`` and its descendants now; a process that exits meanwhile counts 0."""
    total = 0
    for proc in tree_processes(pid):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def shares_between(before: dict[str, float], after: dict[str, float], tree_cpu: float, cores: int) -> CpuShares:
    """:class:`CpuShares` from two :func:`psutil.cpu_times` snapshots and the tree's CPU seconds between them."""
    delta = {f: max(0.0, after[f] - before[f]) for f in _FIELDS}
    total = sum(delta.values())
    if total <= 0:
        return CpuShares(0.0, 0.0, 0.0, cores)
    busy = total - sum(delta[f] for f in _NOT_BUSY)
    tree = min(tree_cpu, busy)
    return CpuShares(tree / total, max(0.0, busy - tree) / total, delta["steal"] / total, cores)


class TreeSampler:
    """Sample a process and its descendants every ``interval`` seconds on a background thread.

    Use as a context manager around the child's lifetime; afterwards ``peak_rss`` (bytes, the largest
    sum of RSS over the tree at one sample) and :meth:`shares` are the run's figures.
    """

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss = 0
        self._cpu: dict[tuple[int, float], float] = {}  # (pid, create time) -> last seen user + system
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="tree-sampler")
        self._before: dict[str, float] = {}
        self._after: dict[str, float] = {}

    def __enter__(self) -> TreeSampler:
        self._before = _system_times()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._after = _system_times()

    def sample(self) -> None:
        """One sample: the tree's RSS (peak kept) and each live process's CPU time so far."""
        rss = 0
        for proc in tree_processes(self.pid):
            with contextlib.suppress(psutil.Error), proc.oneshot():
                rss += proc.memory_info().rss
                times = proc.cpu_times()
                self._cpu[(proc.pid, proc.create_time())] = times.user + times.system
        self.peak_rss = max(self.peak_rss, rss)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    @property
    def tree_cpu_seconds(self) -> float:
        return sum(self._cpu.values())

    def shares(self) -> CpuShares:
        """CPU shares over the sampled span (call after the ``with`` block)."""
        return shares_between(self._before, self._after, self.tree_cpu_seconds, psutil.cpu_count() or 1)

"""What every benchmark returns, and how the runner finds them.

A benchmark is a module `bench/bench_<name>.py` with `run(quick: bool) -> list[Figure]`. Each figure
is measured beside its baseline *in the same run* (machines here are noisy, so only ratios compare
across runs). `python -m bench.run` runs them all, writes bench/results.json and the table in
bench/README.md.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable

from pydantic import BaseModel


class Figure(BaseModel):
    bench: str  # the module, e.g. "idcard"
    name: str  # what was measured, e.g. "decode throughput"
    value: float
    unit: str  # e.g. "frames/s", "ms", "% of a core", "MB"
    baseline_name: str  # what it is compared with, e.g. "bytes.find over the same stream"
    baseline: float
    higher_is_better: bool = True
    target: str = ""  # the goal in words, e.g. "p95 <= 20 ms"
    met: bool | None = None  # whether the target was met, where there is one

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("inf")


def cpu_percent_of_core(action: Callable[[], None], seconds: float) -> float:
    """Process CPU time spent (all threads) while `action` runs for about `seconds`, as % of one core.

    `action` must return after roughly `seconds`; the wall time is measured, not assumed.
    """
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    action()
    wall = time.perf_counter() - t0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    return 100.0 * cpu / wall


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def one_core() -> None:
    """Pin this process to one core, as the targets are stated "on one core"."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

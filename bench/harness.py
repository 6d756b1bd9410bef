"""What every benchmark returns, and how the runner finds them.

A benchmark is a module `bench/bench_<name>.py` with `run(quick: bool) -> list[Figure]`. Each figure
is measured beside its baseline *in the same run* (machines here are noisy, so only ratios compare
across runs). `python -m bench.run` runs them all, writes bench/results.json and the table in
bench/README.md.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

from contract import signing


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


def decode_figure(
    bench: str, name: str, frames: int, decode_s: float, floor_s: float, floor_name: str, baud: int, frame_bytes: float
) -> Figure:
    """A codec's throughput beside the least any decoder must do, judged against the serial line:
    the target is ten times the frames per second the line can carry at `baud` (8N1: 10 bits a byte)."""
    line_rate = baud / 10 / frame_bytes
    value = frames / decode_s
    return Figure(
        bench=bench,
        name=name,
        value=round(value),
        unit="frames/s",
        baseline_name=floor_name,
        baseline=round(frames / floor_s),
        target=f">= 10x the line's {line_rate:.0f} frames/s at {baud} baud",
        met=value >= 10 * line_rate,
    )


def idle_cpu_figure(bench: str, name: str, value: float, baseline: float, baseline_name: str) -> Figure:
    """A device loop's CPU with nothing happening; the drivers' target is under 1 % of a core."""
    return Figure(
        bench=bench,
        name=name,
        value=round(value, 3),
        unit="% of a core",
        baseline_name=baseline_name,
        baseline=round(baseline, 3),
        higher_is_better=False,
        target="< 1 % of a core",
        met=value < 1.0,
    )


DOWNLINK_SEED = "44" * 32  # central's downlink key in the benchmarks (bench.children.collector's last argument)
CENTRAL_KEY = signing.private_key(DOWNLINK_SEED).public_key().public_bytes_raw().hex()  # the boxes' `central_key`
ROOT = Path(__file__).resolve().parent.parent  # where `python -m bench.…` finds the bench package


@contextmanager
def child_processes(module: str, *argvs: list[str], wait_s: float = 10.0) -> Iterator[list[subprocess.Popen[str]]]:
    """Run `python -m <module>` (one of bench.children) in one child process per argument list, so
    their CPU is not counted as ours.

    The module prints "ready" once started (the caller reads any further lines from the child's
    stdout) and runs until its stdin closes, which happens on leaving this context. All children
    start before any is waited for, so they are ready at about the same moment.
    """
    children = [
        subprocess.Popen(
            [sys.executable, "-m", module, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        for argv in argvs
    ]
    try:
        for child, argv in zip(children, argvs, strict=True):
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a child process did not start: python -m {module} {' '.join(argv)}")
        yield children
    finally:
        for child in children:
            assert child.stdin is not None
            child.stdin.close()
        for child in children:
            child.wait(timeout=wait_s)


def run_device(device: object, seconds: float) -> None:
    """Run a driver's `run(emit, stop)` loop in a thread for `seconds`; it must have reported something."""
    stop = threading.Event()
    events: list[object] = []
    worker = threading.Thread(target=device.run, args=(events.append, stop))  # type: ignore[attr-defined]
    worker.start()
    time.sleep(seconds)
    stop.set()
    worker.join()
    assert events, f"{type(device).__name__} reported nothing"


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

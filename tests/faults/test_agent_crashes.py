"""A box killed with SIGKILL at random moments, 20 times, and the broker restarted as well."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from checkpoint.demo import Demo
from tests.faults.checks import shown_ids, tally
from tests.mqtt import wait_until


@pytest.mark.slow
def test_every_verdict_shown_survives_twenty_power_cuts(tmp_path: Path) -> None:
    demo = Demo(tmp_path / "demo", agents=1, passages_per_minute=1200, mode="direct")
    demo.prepare()
    assert demo.broker is not None
    (box,) = demo.boxes
    log = demo.workdir / "logs" / f"{box.device}.log"
    rng = random.Random(20)
    faults: list[str] = []
    demo.start()
    try:
        for n in range(20):
            # the power is cut at a random moment (wall time on purpose: a power cut does not wait for an event)
            if n % 5 == 4:  # while it is still starting
                time.sleep(rng.uniform(0.2, 1.0))
            else:  # while it is deciding: after it has shown something in this run
                shows_more(log, 1)
                time.sleep(rng.uniform(0.0, 1.5))
            demo.kill_box(box)
            faults.append("box SIGKILL")
            if n == 10:
                demo.broker.kill()
                demo.broker.start()
                faults.append("broker SIGKILL + restart")
            demo.start_box(box)
        shows_more(log, 20)  # and it goes on after the last one
    finally:
        demo.stop()
    report = tally(demo, faults, "Box killed 20 times")
    assert report["shown"] > 100, report
    assert report["lost"] == 0 and report["duplicated"] == 0 and report["gaps"] == 0, report
    assert report["cases"] == report["cases expected"], report


def shows_more(log: Path, count: int) -> None:
    """Wait until the box's kiosk has shown `count` more verdicts."""
    before = len(shown_ids(log)) if log.exists() else 0
    wait_until(lambda: log.exists() and len(shown_ids(log)) >= before + count, timeout=60, what=f"{count} more shown",
               every=0.1)

"""The fault suite: five boxes, a few thousand verdicts, and everything that fails in the field.

During the run the broker is killed with SIGKILL and restarted several times, one box is killed and
restarted, central is killed mid-ingest and restarted, one box's uplink is cut and restored through
a TCP proxy, and another box's outbox disk fills up and is freed again. Afterwards every verdict
shown at a kiosk must be stored at central exactly once and each box's sequence numbers must be
contiguous. `CHECKPOINT_FAULT_SECONDS` lengthens the run for a soak (default 45 s of load).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from checkpoint.broker import free_port
from checkpoint.demo import Demo
from tests.faults.checks import SmallDisk, edit_box, not_recorded, tally
from tests.faults.proxy import Proxy
from tests.mqtt import wait_until

SECONDS = float(os.environ.get("CHECKPOINT_FAULT_SECONDS", "45"))
RATE = 900.0  # passages per minute per box: 5 boxes x 15/s


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the full-disk fault mounts a tmpfs: run as root (CI does)")
def test_nothing_shown_is_lost_or_stored_twice(tmp_path: Path) -> None:
    demo = Demo(tmp_path / "demo", agents=5, passages_per_minute=RATE, mode="direct")
    demo.prepare()
    assert demo.broker is not None
    boxes = demo.boxes
    proxy = Proxy(upstream_port=demo.broker.port, port=free_port())
    edit_box(boxes[3], lambda d: d["mqtt"].update(port=proxy.port))  # box-4 reaches the broker through the proxy
    disk = SmallDisk(tmp_path / "small-disk")
    edit_box(boxes[4], lambda d: d["outbox"].update(path=str(disk.path / "outbox.sqlite")))
    for box in boxes:  # when the load stops, let every box wait for central to catch up
        edit_box(box, lambda d: d.update(drain_timeout_s=180))
    boxes[4].outbox = disk.path / "outbox.sqlite"
    faults: list[str] = []

    def at(fraction: float, what: str, action: Callable[[], None]) -> None:
        """Inject a fault at its moment of the load: wall time on purpose, as in the field, faults come
        whatever the boxes, the broker and central are doing (each box decides on its own clock)."""
        deadline = start + fraction * SECONDS
        time.sleep(max(0.0, deadline - time.monotonic()))
        action()
        faults.append(what)

    full_log = demo.workdir / "logs" / f"{boxes[4].device}.log"
    with disk:
        proxy.start()
        demo.start()
        start = time.monotonic()
        try:
            at(0.10, "broker SIGKILL", demo.broker.kill)
            at(0.15, "broker restart", demo.broker.start)
            at(0.20, "uplink cut (box-4)", proxy.cut)
            at(0.30, "uplink restored (box-4)", proxy.restore)
            at(0.35, "box SIGKILL (box-2)", lambda: demo.kill_box(boxes[1]))
            at(0.38, "box restart (box-2)", lambda: demo.start_box(boxes[1]))
            at(0.45, "central SIGKILL mid-ingest", demo.kill_central)
            at(0.50, "central restart", demo.start_central)
            at(0.55, "outbox disk full (box-5)", disk.fill)
            at(0.60, "broker SIGKILL", demo.broker.kill)
            at(0.62, "broker restart", demo.broker.start)
            at(0.80, "broker SIGKILL", demo.broker.kill)
            at(0.82, "broker restart", demo.broker.start)
            at(0.85, "outbox disk freed (box-5)", lambda: free_once_refused(disk, full_log, start + 0.97 * SECONDS))
            at(1.00, "end of load", lambda: None)
        finally:
            demo.stop(timeout=240)
            proxy.stop()
        report = tally(demo, faults[:-1], "Fault suite")
    assert report["lost"] == 0, report
    assert report["duplicated"] == 0, report
    assert report["gaps"] == 0, report
    assert report["cases"] == report["cases expected"], report
    assert report["shown"] > 1000, report
    assert report["not recorded"] > 0, "the full disk should have refused some passages"


def free_once_refused(disk: SmallDisk, log: Path, latest: float) -> None:
    """Free the box's disk once it has refused a passage for it, and at the latest at `latest` (monotonic):
    the write-ahead log keeps up to a megabyte it may write into after the disk is full, so on a slow
    run the fault's planned 30 % of the load could pass before any write needed new space."""
    wait_until(lambda: not_recorded(log) > 0 or time.monotonic() >= latest,
               timeout=max(0.0, latest - time.monotonic()) + 1, what="a passage refused for the full disk", every=0.2)
    disk.free()

"""What every fault test shares: the faults it injects (a small disk, a box's edited settings) and what a
fault run must end with, counted the same way by each."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from central.cases import opens_case
from central.config import CentralSettings
from central.schema import cases, device_lives, verdicts
from central.store import Store
from checkpoint.demo import Box, Demo


def edit_box(box: Box, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    data = yaml.safe_load(box.config.read_text())
    change(data)
    box.config.write_text(yaml.safe_dump(data, allow_unicode=True))


class SmallDisk:
    """A small tmpfs (a box's outbox, central's SQLite), filled on demand (needs root, as CI has)."""

    def __init__(self, path: Path, size_mb: int = 8) -> None:
        self.path = path
        self.size_mb = size_mb
        self.filler = path / "filler"

    def __enter__(self) -> SmallDisk:
        self.path.mkdir(parents=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "tmpfs", str(self.path)], check=True)
        return self

    def fill(self) -> None:
        subprocess.run(["dd", "if=/dev/zero", f"of={self.filler}", "bs=64k"], capture_output=True)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)


def shown_ids(log: Path) -> set[str]:
    """The verdicts a box's kiosk showed, from its structured log (all runs of the box)."""
    ids = set()
    for line in log.read_text(errors="replace").splitlines():
        if '"verdict shown"' in line:
            ids.add(json.loads(line)["verdict"])
    return ids


def unreceipted(box: Box) -> set[str]:
    """The verdicts a running box holds without central's receipt. Read-only: an observer must not
    write to, or checkpoint, the outbox of a box that is running."""
    db = sqlite3.connect(f"file:{box.outbox}?mode=ro", uri=True, timeout=30)
    try:
        return {verdict_id for (verdict_id,) in db.execute("SELECT verdict_id FROM outbox")}
    finally:
        db.close()


def not_recorded(log: Path) -> int:
    """Passages the box could not record (a full disk): the kiosk said so and showed no verdict."""
    return log.read_text(errors="replace").count('"verdict not recorded"')


def tally(demo: Demo, faults: list[str], title: str, extra_logs: tuple[Path, ...] = ()) -> dict[str, int]:
    """Produced, shown, stored, lost, duplicated, sequence gaps; printed as a table.

    Counted per life of a box (a box whose outbox was lost numbers from 1 again): duplicates are
    (device, life, seq) stored twice, gaps are missing numbers of the lives still current, and
    `lost (reported)` is what central's devices page says the ended lives never delivered.
    """
    store = Store(demo.db_url)
    with store.engine.connect() as conn:
        rows = conn.execute(select(verdicts)).mappings().all()
        case_count = conn.scalar(select(func.count()).select_from(cases)) or 0
        ended = {(life.device, life.epoch): 0 if life.refused else max(life.produced, life.max_seq) - life.stored
                 for life in conn.execute(select(device_lives).where(device_lives.c.ended_at.is_not(None)))}
    store.dispose()
    owed = frozenset(CentralSettings().obligations.deadlines_h)  # the demo's central keeps the defaults
    flagged = [r for r in rows if opens_case(r, owed)]  # nothing is closed during a fault run:
    expected_cases = len({r["pseudonym"] for r in flagged if r["pseudonym"]}) + sum(not r["pseudonym"] for r in flagged)
    stored_ids = {r["id"] for r in rows}
    logs = [demo.workdir / "logs" / f"{b.device}.log" for b in demo.boxes] + list(extra_logs)
    shown = set().union(*map(shown_ids, logs))
    seqs: dict[tuple[str, str], set[int]] = {}
    for r in rows:
        seqs.setdefault((r["device"], r["epoch"]), set()).add(r["seq"])
    gaps = sum(len(set(range(1, max(s) + 1)) - s) for life, s in seqs.items() if life not in ended)
    produced = demo.produced()
    report = {
        "produced": produced,
        "shown": len(shown),
        "stored": len(stored_ids),
        "lost": len(shown - stored_ids) + max(0, produced - len(stored_ids)),
        "duplicated": len(rows) - len({(r["device"], r["epoch"], r["seq"]) for r in rows}),
        "gaps": gaps,
        "lost (reported)": sum(ended.values()),
        "not recorded": sum(map(not_recorded, logs)),
        "cases": case_count,
        "cases expected": expected_cases,
        "faults": len(faults),
    }
    headers = [
        "produced",
        "shown at kiosks",
        "stored",
        "lost",
        "duplicated",
        "seq gaps",
        "lost, reported by central",
        "not recorded (disk full)",
        "cases",
        "cases expected",
    ]
    table = Table(*headers, "faults", title=title)
    table.add_row(*(str(v) for v in report.values()))
    console = Console(width=120)
    console.print(table)
    console.print("faults injected: " + ", ".join(faults))
    return report

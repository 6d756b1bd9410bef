import sqlite3
from pathlib import Path

import pytest

from agent.outbox import Outbox, OutboxFull


def add(outbox: Outbox, flagged: bool = False) -> int:
    seq = outbox.next_seq()
    outbox.append(seq, f"id-{seq}", flagged, "checkpoint/v1/s/d/verdict", b"{}")
    return seq


def test_sequence_and_boot_survive_restarts(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox(path).open(new_boot=True) as o:
        assert (o.boot, [add(o), add(o)]) == (1, [1, 2])
    with Outbox(path).open(new_boot=True) as o:
        assert o.boot == 2
        assert add(o) == 3
        assert [r.seq for r in o.pending()] == [1, 2, 3]


def test_rows_leave_only_by_receipt_ranges(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite").open() as o:
        for _ in range(6):
            add(o)
        assert o.remove_ranges([(1, 2), (4, 4)]) == 3
        assert [r.seq for r in o.pending()] == [3, 5, 6]
        assert [r.seq for r in o.rows([5, 1, 6])] == [5, 6]
        assert o.remove_ranges([(1, 2)]) == 0  # a repeated receipt changes nothing


def test_a_stale_sequence_number_is_refused(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite").open() as o:
        add(o)
        with pytest.raises(Exception, match="one writer only"):
            o.append(1, "again", False, "t", b"{}")
        assert o.last_seq == 1


def test_full_outbox_evicts_oldest_pass_never_flagged(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", capacity=10).open() as o:
        flagged = [add(o, flagged=True) for _ in range(3)]
        passes = [add(o) for _ in range(7)]
        add(o)  # full: the oldest pass goes
        kept = [r.seq for r in o.pending(limit=100)]
        assert passes[0] not in kept and set(flagged) <= set(kept)
        assert o.evicted == 1
        for _ in range(20):  # only flagged verdicts now arrive: none is ever dropped
            add(o, flagged=True)
        rows = o.pending(limit=100)
        assert all(r.flagged for r in rows) and len([r for r in rows if r.flagged]) == 23
        assert o.over_capacity()


def test_full_disk_raises_and_records_nothing(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path).open() as o:
        add(o)
        pages = o.db.execute("PRAGMA page_count").fetchone()[0]
        o.db.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow: SQLite's "disk is full"
        with pytest.raises(OutboxFull, match="not recorded"):
            for _ in range(1000):
                o.append(o.next_seq(), f"big-{o.next_seq()}", False, "t", b"x" * 4000)
        last = o.last_seq
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT max(seq) FROM outbox").fetchone()[0] == last

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agent.outbox import SCHEMA_VERSION, LifeRecord, Outbox, OutboxFull, OutboxGone


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


def test_rows_leave_only_when_removed_by_name(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite").open() as o:
        for _ in range(6):
            add(o)
        assert o.remove([1, 2, 4]) == 3
        assert [r.seq for r in o.pending()] == [3, 5, 6]
        assert [r.seq for r in o.rows([5, 1, 6])] == [5, 6]
        assert o.remove([1, 2]) == 0  # a repeated receipt changes nothing


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


def test_a_lost_outbox_starts_a_new_life_from_sequence_one(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox(path).open(new_boot=True) as o:
        first = o.epoch
        add(o), add(o)
    with Outbox(path).open(new_boot=True) as o:
        assert o.epoch == first and add(o) == 3  # the same life goes on across restarts
    for leftover in tmp_path.iterdir():
        leftover.unlink()  # the outbox is lost (deleted, a new SD card)
    with Outbox(path).open(new_boot=True) as o:
        assert o.epoch is not None and o.epoch != first
        assert (o.boot, add(o)) == (1, 1)


def test_an_outbox_from_before_lives_stays_unnamed_while_it_holds_rows(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox(path).open() as o:
        add(o), add(o)
        o.db.execute("DROP TABLE life")  # as an earlier release wrote it
    with Outbox(path).open() as o:
        assert o.epoch is None and add(o) == 3  # its rows keep their numbers
        o.remove([1, 2, 3])
        o.db.execute("DROP TABLE life")
    with Outbox(path).open() as o:  # empty: a named life starts
        assert o.epoch is not None and add(o) == 1


def test_the_outbox_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with Outbox(tmp_path / "box" / "outbox.sqlite").open() as o:
            add(o)
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "box").iterdir()}
    finally:
        os.umask(old)
    assert modes == {"outbox.sqlite": 0o600, "outbox.sqlite-wal": 0o600, "outbox.sqlite-shm": 0o600}
    assert stat.S_IMODE((tmp_path / "box").stat().st_mode) == 0o700


def test_nothing_is_recorded_into_an_outbox_deleted_under_the_agent(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox(path).open() as o:
        add(o)
        for leftover in tmp_path.iterdir():
            leftover.unlink()
        with pytest.raises(OutboxGone, match="deleted or replaced"):
            add(o)


def test_what_was_committed_survives_a_crash_after_another_process_looked_at_the_outbox(tmp_path: Path) -> None:
    """A tool, a backup or the demo's progress opening and closing the outbox while the agent runs must not
    take the agent's write-ahead log from under it (as it did when the agent's second connection dropped
    the process's locks on the file): a power cut then loses nothing committed."""
    path = tmp_path / "outbox.sqlite"
    committed = []
    with subprocess.Popen([sys.executable, "-m", "tests.agent.outbox_process", str(path)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]) as agent:
        assert agent.stdin is not None and agent.stdout is not None
        try:
            assert agent.stdout.readline() == "open\n"
            with Outbox(path):  # another process opens and closes it
                pass
            for _ in range(20):
                agent.stdin.write("verdict\n")
                agent.stdin.flush()
                committed.append(int(agent.stdout.readline()))
        finally:
            agent.kill()  # a power cut
    with Outbox(path) as o:
        assert [r.seq for r in o.pending()] == committed == list(range(1, 21))


def test_the_life_record_remembers_how_far_a_lost_outbox_had_got(tmp_path: Path) -> None:
    record = tmp_path / "state" / "life.json"
    assert LifeRecord(record).start("a" * 16, 0) is None  # a new box
    first = LifeRecord(record)
    assert first.start("a" * 16, 0) is None
    first.update("a" * 16, 42)
    again = LifeRecord(record)
    assert again.start("b" * 16, 0) == {"epoch": "a" * 16, "last_seq": 42}  # the outbox was replaced
    assert again.lost == [{"epoch": "a" * 16, "last_seq": 42}]
    later = LifeRecord(record)
    assert later.start("b" * 16, 3) is None and later.lost == again.lost  # still told at every birth
    record.write_text("not json")
    assert LifeRecord(record).start("b" * 16, 3) is None  # unreadable: nothing to tell, and rewritten


def test_the_layout_is_kept_in_the_file_and_a_newer_one_is_still_read(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A rollback: the release on trial migrated the outbox forward (a column with a default, a higher
    version) and recorded into it; the release rolled back to reads, sends and records as before."""
    path = tmp_path / "outbox.sqlite"
    with Outbox(path).open(new_boot=True) as o:
        add(o)
        assert o.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        o.db.execute("ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0")  # the newer release
        o.db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
        o.db.execute("INSERT INTO outbox (seq, verdict_id, boot, flagged, topic, payload, created, priority) "
                     "VALUES (2, 'newer-2', 1, 1, 't', x'00', 0, 5)")
        o.db.execute("UPDATE counters SET value = 2 WHERE name = 'seq'")
    with Outbox(path).open(new_boot=True) as o:
        assert [r.seq for r in o.pending()] == [1, 2] and add(o) == 3
        assert o.remove([1, 2]) == 2 and [r.seq for r in o.pending()] == [3]
        assert o.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1  # left as it is
    assert any("written by a newer release" in r.getMessage() for r in caplog.records)

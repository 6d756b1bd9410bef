"""agent.delivery: the outbox's way to central, checked transition by transition without a broker.

Each case is a table of steps played against one Delivery; a step is an event and what the
machine answers. The outbox is a dict here (seq -> committed at), as the shell's reads would give.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.delivery import Delivery, RowInfo

LIFE = "0123456789abcdef"
MAX = 2**31 - 1


@dataclass
class Box:
    """The machine with a pretend outbox and MQTT: mids are handed out in order."""

    machine: Delivery
    rows: dict[int, float] = field(default_factory=dict)
    mids: dict[int, int] = field(default_factory=dict)  # seq -> its latest mid
    next_mid: int = 1

    def step(self, event: str, *args: Any) -> Any:
        m = self.machine
        if event == "commit":  # rows committed at wall time args[1] (default 100)
            for seq in args[0]:
                self.rows[seq] = args[1] if len(args) > 1 else 100.0
            return None
        if event == "connect":
            m.connected(now=args[0], wall=args[1] if len(args) > 1 else 50.0)
            return None
        if event == "disconnect":
            m.disconnected()
            return None
        if event == "pump":  # what gets handed to MQTT at monotonic time args[0]
            want = m.wants(args[0])
            resend = [RowInfo(s, self.rows[s]) for s in want.resend if s in self.rows]
            fresh = [RowInfo(s, self.rows[s]) for s in sorted(self.rows) if s > want.after_seq][: want.fresh]
            out = []
            for p in m.to_publish(resend, fresh):
                self.mids[p.seq] = self.next_mid
                m.handed(p.seq, self.next_mid)
                self.next_mid += 1
                out.append((p.seq, "replayed") if p.replayed else p.seq)
            return out
        if event == "puback":  # seq, accepted, now
            return [r.level for r in m.puback(self.mids[args[0]], args[1], now=args[2])]
        if event == "receipt":  # epoch, ranges
            return [r.level for r in m.receipt(args[0], args[1])]
        if event == "deletes":
            seqs = m.take_deletes()
            for s in seqs:
                self.rows.pop(s, None)
            m.deleted(len(seqs))
            return seqs
        if event == "delete fails":
            seqs = m.take_deletes()
            m.delete_failed(seqs)
            return seqs
        if event == "evict":
            del self.rows[args[0]]
            return None
        if event == "flush":
            m.flush(now=args[0])
            return None
        raise AssertionError(event)


CASES: dict[str, list[tuple[Any, ...]]] = {
    "sent, acknowledged, receipted, deleted": [
        ("commit", [1, 2]), ("connect", 0), ("pump", 0, [1, 2]),
        ("puback", 1, True, 0, []), ("puback", 2, True, 0, []),
        ("receipt", LIFE, [(1, 2)], []), ("deletes", [1, 2]), ("pump", 1000, []),
    ],
    "a receipt naming everything deletes only what was sent": [
        ("commit", [1, 2, 3]), ("connect", 0), ("pump", 0, [1, 2, 3]), ("commit", [4, 5]),
        ("receipt", LIFE, [(1, MAX)], []), ("deletes", [1, 2, 3]),
        ("pump", 0, [4, 5]),
    ],
    "a receipt before the PUBACK deletes; the late PUBACK changes nothing": [
        ("commit", [1]), ("connect", 0), ("pump", 0, [1]),
        ("receipt", LIFE, [(1, 1)], []), ("deletes", [1]),
        ("puback", 1, True, 1, []), ("pump", 1000, []),
    ],
    "a receipt for a seq never sent is ignored": [
        ("commit", [1, 2]),
        ("receipt", LIFE, [(1, 2)], []), ("deletes", []),
        ("connect", 0), ("pump", 0, [1, 2]),
    ],
    "a duplicate receipt deletes nothing more": [
        ("commit", [1]), ("connect", 0), ("pump", 0, [1]), ("puback", 1, True, 0, []),
        ("receipt", LIFE, [(1, 1)], []), ("deletes", [1]),
        ("receipt", LIFE, [(1, 1)], []), ("deletes", []),
    ],
    "a receipt for another life of the box is ignored, with a warning": [
        ("commit", [1]), ("connect", 0), ("pump", 0, [1]), ("puback", 1, True, 0, []),
        ("receipt", "fedcba9876543210", [(1, 1)], ["warning"]), ("receipt", None, [(1, 1)], ["warning"]),
        ("deletes", []),
    ],
    "a reconnect sends every row without a receipt again at once, as replayed": [
        ("commit", [1, 2], 100), ("connect", 0, 50), ("pump", 0, [1, 2]),
        ("puback", 1, True, 0, []), ("puback", 2, True, 0, []),
        ("disconnect",), ("pump", 5, []), ("connect", 6, 200), ("pump", 6, [(1, "replayed"), (2, "replayed")]),
    ],
    "no receipt: sent again after 30 s, then 60 s later": [
        ("commit", [1]), ("connect", 0), ("pump", 0, [1]), ("puback", 1, True, 0, []),
        ("pump", 29, []), ("pump", 30, [1]), ("puback", 1, True, 30, []),
        ("pump", 89, []), ("pump", 90, [1]),
    ],
    "a resend racing a late receipt: the receipt wins, nothing goes again": [
        ("commit", [1]), ("connect", 0), ("pump", 0, [1]), ("puback", 1, True, 0, []),
        ("pump", 30, [1]), ("receipt", LIFE, [(1, 1)], []), ("deletes", [1]),
        ("puback", 1, True, 31, []), ("pump", 5000, []),
    ],
    "a refused message stays and goes again later": [
        ("commit", [1]), ("connect", 0), ("pump", 0, [1]), ("puback", 1, False, 0, ["error"]),
        ("pump", 1, []), ("pump", 30, [1]), ("puback", 1, True, 30, []),
        ("receipt", LIFE, [(1, 1)], []), ("deletes", [1]),
    ],
    "nothing is handed out while disconnected": [
        ("commit", [1]), ("pump", 0, []), ("connect", 1), ("disconnect",), ("pump", 2, []),
        ("connect", 3), ("pump", 3, [1]),
    ],
    "the in-flight window bounds what is handed out": [
        ("commit", [1, 2, 3, 4, 5]), ("connect", 0), ("pump", 0, [1, 2]),
        ("pump", 0, []), ("puback", 1, True, 0, []), ("pump", 0, [3]),
    ],
    "a resend of a row no longer in the outbox is dropped": [
        ("commit", [1]), ("connect", 0), ("pump", 0, [1]), ("puback", 1, True, 0, []),
        ("evict", 1), ("pump", 30, []), ("pump", 5000, []),
    ],
    "a failed delete is tried again": [
        ("commit", [1]), ("connect", 0), ("pump", 0, [1]),
        ("receipt", LIFE, [(1, 1)], []), ("delete fails", [1]), ("deletes", [1]),
    ],
    "flush sends every row without a receipt now": [
        ("commit", [1, 2]), ("connect", 0), ("pump", 0, [1, 2]),
        ("puback", 1, True, 0, []), ("puback", 2, True, 0, []), ("receipt", LIFE, [(2, 2)], []), ("deletes", [2]),
        ("flush", 5), ("pump", 5, [1]),
    ],
}


@pytest.mark.parametrize("name", list(CASES))
def test_delivery(name: str) -> None:
    window = 2 if "window" in name else 500
    box = Box(Delivery(epoch=LIFE, started_wall=0.0, window=window))
    for step in CASES[name]:
        event, *rest = step
        arity = {"commit": None, "connect": None, "disconnect": 0, "flush": 1, "evict": 1}
        if event in arity:
            box.step(event, *rest)
            continue
        *args, expected = rest
        assert box.step(event, *args) == expected, f"{name}: {step}"


def test_counts() -> None:
    box = Box(Delivery(epoch=LIFE, started_wall=0.0))
    box.step("commit", [1, 2])
    box.step("connect", 0)
    box.step("pump", 0)
    box.step("puback", 1, False, 0)
    box.step("receipt", LIFE, [(1, 2)])
    box.step("deletes")
    assert (box.machine.stored, box.machine.refused, box.machine.awaiting_receipt) == (2, 1, 0)

"""central.intake: the collector's batch, acknowledge and receipt step, transition by transition,
without a broker or a database. Each case is a table of steps played against one Intake."""

from __future__ import annotations

from typing import Any

import pytest

from central.intake import Intake, Message, Outcome, Stored

A, B = "a" * 16, "b" * 16


def msg(mid: int, qos: int = 1) -> Message:
    return Message(mid, qos, "checkpoint/v1/s/d/verdict", b"{}", replayed=False)


def play(intake: Intake, steps: list[tuple[Any, ...]]) -> None:
    batch: list[Message] = []
    for step in steps:
        event, *args = step
        if event == "connect":
            intake.connected()
        elif event == "receive":  # mids (qos 1 unless given as (mid, qos)), at time args[1]
            for m in args[0]:
                intake.received(msg(*m) if isinstance(m, tuple) else msg(m), now=args[1])
        elif event == "take":  # at time args[0]: the mids cut
            batch = intake.take(args[0])
            assert [m.mid for m in batch] == args[1], step
        elif event == "due_in":
            assert intake.due_in(args[0]) == args[1], step
        elif event == "commit":  # stored verdicts; the expected Outcome
            assert intake.committed(batch, args[0]) == args[1], step
        elif event == "abandon":
            intake.abandoned(batch)
        elif event == "backlog":
            assert intake.backlog == args[0], step
        else:
            raise AssertionError(step)


S1, S2 = Stored("s", "d", A, 1), Stored("s", "d", A, 2)
CASES: dict[str, list[tuple[Any, ...]]] = {
    "a batch is cut when full": [
        ("connect",), ("receive", [1, 2, 3], 0.0), ("take", 0.0, [1, 2]), ("take", 0.0, []),
        ("due_in", 0.0, 0.05), ("take", 0.05, [3]),
    ],
    "a batch is cut when its oldest message has waited long enough": [
        ("connect",), ("due_in", 0.0, None), ("receive", [1], 0.0), ("take", 0.01, []),
        ("receive", [2], 0.03), ("take", 0.05, [1, 2]),
    ],
    "acknowledged only once committed, with a receipt per box and life": [
        ("connect",), ("receive", [1, 2], 0.0), ("take", 1.0, [1, 2]), ("receive", [3], 1.0), ("backlog", 3),
        ("commit", [S1, S2, Stored("s", "d", B, 1)], Outcome([(1, 1), (2, 1)], {("s", "d", A): [1, 2],
                                                                                 ("s", "d", B): [1]})),
        ("backlog", 1),
    ],
    "QoS 0 is never acknowledged": [
        ("connect",), ("receive", [(1, 0), 2], 0.0), ("take", 1.0, [1, 2]),
        ("commit", [], Outcome([(2, 1)], {})),
    ],
    "a packet id twice in one batch is acknowledged once": [
        ("connect",), ("receive", [7, 7], 0.0), ("take", 1.0, [7, 7]),
        ("commit", [S1], Outcome([(7, 1)], {("s", "d", A): [1]})),
    ],
    "after a reconnect only the fresh copy of a message is acknowledged": [
        ("connect",), ("receive", [5], 0.0), ("connect",), ("receive", [5], 0.01), ("take", 1.0, [5, 5]),
        ("commit", [S1, S1], Outcome([(5, 1)], {("s", "d", A): [1, 1]}, not_acked=1)),
    ],
    "a batch committed after a reconnect is not acknowledged: the broker sends it again": [
        ("connect",), ("receive", [1, 2], 0.0), ("take", 1.0, [1, 2]), ("connect",),
        ("commit", [S1, S2], Outcome([], {("s", "d", A): [1, 2]}, not_acked=2)),
    ],
    "an abandoned batch is acknowledged never": [
        ("connect",), ("receive", [1, 2], 0.0), ("take", 1.0, [1, 2]), ("abandon",), ("backlog", 0),
    ],
}


@pytest.mark.parametrize("name", list(CASES))
def test_intake(name: str) -> None:
    play(Intake(batch_max=2 if "full" in name else 500, batch_wait_s=0.05), CASES[name])

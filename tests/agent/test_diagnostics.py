"""The box's side of remote diagnostics, piece by piece: the answer stays under its size with the
newest log lines, the log tail masks ID numbers, the running box's checks say what is wrong, and the
CPU use is read from the kernel's counters."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent import doctor
from agent.diagnostics import Answered, answer
from agent.metrics import CpuUse
from common.logs import Tail
from contract import idnumber, signing
from contract.messages import DIAGNOSTICS_MAX_BYTES, Check, CheckState, Diagnostics, DiagnosticsRequest
from tests.factories import SYNTHETIC_ID

KEY = b"k" * 32


def request(log_lines: int) -> DiagnosticsRequest:
    return DiagnosticsRequest(id=uuid.uuid4(), device="box-a", log_lines=log_lines, issued_at=datetime.now(UTC))


@pytest.mark.parametrize(("asked", "lines", "line_chars", "kept", "left_out"), [
    (10, 3, 50, 3, 0),  # fewer lines than asked: all of them
    (10, 30, 50, 10, 0),  # the newest ten
    (0, 30, 50, 0, 0),  # no lines asked for
    (500, 500, 2000, None, None),  # 1 MB of lines: as many of the newest as fit
    (500, 500, 5000, None, None),  # lines longer than a line may be: cut, then as many as fit
])
def test_an_answer_keeps_the_newest_lines_that_fit(
    asked: int, lines: int, line_chars: int, kept: int | None, left_out: int | None
) -> None:
    log = [f"{n:04d}" + "x" * (line_chars - 4) for n in range(lines)]
    wire = answer(KEY, request(asked), site="site-a", software="t", checks=[], lines=log, refused_downlinks=3)
    assert len(wire) <= DIAGNOSTICS_MAX_BYTES
    obj = json.loads(wire)
    assert signing.verify(KEY, obj)
    message = Diagnostics.model_validate(obj)
    if kept is not None:
        assert (len(message.logs), message.logs_left_out) == (kept, left_out)
    assert len(message.logs) + message.logs_left_out == min(asked, lines)
    if message.logs:
        assert message.logs[-1].startswith(f"{lines - 1:04d}")  # the newest is kept
    assert message.refused_downlinks == 3


def test_a_request_is_answered_once() -> None:
    answered, first, second = Answered(), request(1), request(1)
    assert answered.first_time(first) and answered.first_time(second)
    assert not answered.first_time(first.model_copy())


def test_the_log_tail_keeps_the_last_lines_masked() -> None:
    tail = Tail(capacity=3)
    log = logging.getLogger("test.tail")
    log.addHandler(tail)
    log.setLevel(logging.INFO)
    try:
        for n in range(5):
            log.info("line %d of %s", n, SYNTHETIC_ID, extra={"id_number": SYNTHETIC_ID})
    finally:
        log.removeHandler(tail)
    lines = [json.loads(line) for line in tail.last(10)]
    assert [line["msg"] for line in lines] == [f"line {n} of {idnumber.mask(SYNTHETIC_ID)}" for n in (2, 3, 4)]
    assert all(line["id_number"] == idnumber.mask(SYNTHETIC_ID) for line in lines)
    assert len(tail.last(1)) == 1 and tail.last(0) == []


def _state(checks: list[Check], name: str) -> CheckState:
    (found,) = [c.state for c in checks if c.name == name]
    return found


@pytest.mark.parametrize(("changes", "name", "state"), [
    ({}, "outbox", CheckState.OK),
    ({"outbox_depth": 80}, "outbox", CheckState.WARN),  # at the warning fraction
    ({"policy_rejected": "fever_c: out of range"}, "policy", CheckState.WARN),
    ({"devices": {"thermo": "ok"}}, "device thermo", CheckState.OK),
    ({"devices": {"thermo": "degraded"}}, "device thermo", CheckState.WARN),
    ({"devices": {"idcard": "disconnected"}}, "device idcard", CheckState.FAIL),
    ({"decode_fps": 0.0}, "camera", CheckState.WARN),
    ({"decode_fps": 9.5}, "camera", CheckState.OK),
])
def test_the_running_box_says_what_is_wrong(tmp_path: Path, changes: dict[str, object], name: str,
                                            state: CheckState) -> None:
    box = doctor.Running(**{"outbox_path": tmp_path / "outbox.sqlite", "outbox_depth": 0, "outbox_capacity": 100,
                            "outbox_warn_fraction": 0.8, "connections": 1, "policy_version": "p-1",
                            **changes})  # type: ignore[arg-type]
    checks = doctor.running(box)
    assert _state(checks, name) is state
    assert {"broker", "clock", "disk"} <= {c.name for c in checks}


def _stat(path: Path, user: int, idle: int) -> None:
    path.write_text(f"cpu  {user} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 2 3 4\n")


@pytest.mark.parametrize(("first", "then", "percent"), [
    ((100, 900), (150, 950), 50.0),  # half the ticks since the last reading were busy
    ((100, 900), (100, 1000), 0.0),
    ((100, 900), (200, 900), 100.0),
    ((100, 900), (100, 900), None),  # no time passed
])
def test_cpu_use_is_busy_ticks_over_all_ticks(tmp_path: Path, first: tuple[int, int], then: tuple[int, int],
                                             percent: float | None) -> None:
    stat = tmp_path / "stat"
    _stat(stat, *first)
    cpu = CpuUse(stat)
    _stat(stat, *then)
    assert cpu.percent() == percent


def test_cpu_use_without_counters_is_unknown(tmp_path: Path) -> None:
    assert CpuUse(tmp_path / "missing").percent() is None

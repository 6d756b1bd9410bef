"""No full ID number reaches a log line, central's dead letters or the kiosk's state.

A short whole flow (checkpoint.demo: broker, central, two boxes with simulated devices) runs until
each box has shown a few verdicts and a kiosk a card it read; then every log file under its work
directory (agents, central, the broker), every row of central's dead-letter table and what each
kiosk's /api/state answered during the run are scanned as raw text for anything shaped like an
18-character ID number. The shape is checkpoint/logs.py's `_ID_SHAPE`, written out again here: the
scan must not depend on the redaction it is testing. A match counts as a leak when its check
character is right (contract.idnumber.is_valid), so hex digests that happen to hold 18 digits in a
row do not count.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from central.store import Store
from checkpoint.demo import Demo
from common.logs import _ID_SHAPE
from contract.idnumber import is_valid
from tests.faults.checks import shown_ids
from tests.mqtt import wait_until

ID_SHAPE = re.compile(r"(?<!\d)(\d{3})\d{11}(\d{3}[\dXx])(?![\dXx])")
SHOWN_PER_BOX = 4
MASKED = re.compile(r"\d{3}\*{11}[\dX]{4}")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def leaks(text: str) -> list[str]:
    return [m.group(0) for m in ID_SHAPE.finditer(text) if is_valid(m.group(0))]


def test_the_scan_uses_the_same_shape_as_the_redactor() -> None:
    assert ID_SHAPE.pattern == _ID_SHAPE.pattern
    assert leaks("person 11010519491231002X passed") == ["11010519491231002X"]
    assert leaks("person 110***********002X passed; seq 123456789012345678 sig ab12") == []


class Run:
    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.kiosk_states: list[str] = []


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    demo = Demo(tmp_path_factory.mktemp("flow") / "demo", agents=2, passages_per_minute=120, mode="devices")
    demo.prepare()
    result = Run(demo)
    def enough() -> bool:
        """Look at each kiosk (as its page does, again and again) until the run has shown enough."""
        for box in demo.boxes:
            try:
                answer = httpx.get(f"http://127.0.0.1:{box.kiosk_port}/api/state", timeout=2)
            except httpx.HTTPError:
                continue  # the kiosk is not listening yet
            if answer.status_code == 200:
                result.kiosk_states.append(answer.text)
        shown = [len(shown_ids(demo.workdir / "logs" / f"{box.device}.log")) for box in demo.boxes]
        return min(shown) >= SHOWN_PER_BOX and any(MASKED.search(state) for state in result.kiosk_states)

    try:
        demo.start()
        wait_until(enough, timeout=120, what=f"{SHOWN_PER_BOX} verdicts at each box and a card read", every=0.5)
    finally:
        demo.stop()
    yield result


def _log_files(workdir: Path) -> list[Path]:
    return sorted(p for p in workdir.rglob("*.log") if p.is_file())


def test_the_flow_produced_logs_and_verdicts(run: Run) -> None:
    names = {p.name for p in _log_files(run.demo.workdir)}
    # the broker's mosquitto.log is scanned when it exists: where mosquitto may not write into the
    # work directory (it says "Unable to open log file ... Permission denied" and runs on) there is none
    assert {"central.log", "box-1.log", "box-2.log"} <= names
    assert run.demo.produced() > 0, "no passage happened: the scan would prove nothing"
    assert run.kiosk_states, "no kiosk answered /api/state"
    assert any(MASKED.search(state) for state in run.kiosk_states), "no card was read: the scan proves little"


def test_no_log_line_holds_a_full_id_number(run: Run) -> None:
    found = {}
    for path in _log_files(run.demo.workdir):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if leaks(line):
                found[f"{path.relative_to(run.demo.workdir)}:{number}"] = line[:300]
    assert not found, f"full ID numbers in logs: {found}"


def test_no_dead_letter_holds_a_full_id_number(run: Run) -> None:
    store = Store(run.demo.db_url)
    try:
        rows = store.dead_letters(limit=1_000_000)
    finally:
        store.dispose()
    found = [dict(row) for row in rows if leaks(repr(dict(row)))]
    assert not found, f"full ID numbers in dead letters: {found[:3]}"


def test_no_kiosk_state_holds_a_full_id_number(run: Run) -> None:
    found = [state[:500] for state in run.kiosk_states if leaks(state)]
    assert not found, f"full ID numbers in the kiosk's /api/state: {found[:3]}"

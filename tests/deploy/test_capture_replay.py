"""Capture and replay for the field: `checkpoint doctor --capture` records a simulated device over a
line at real speed, and `checkpoint idcard parse @FILE` / `checkpoint thermo parse --protocol auto
@FILE` name the protocol and speed that fit and print every frame, or say where decoding fails."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from checkpoint.cli import app
from drivers.idcard.simulator import IdCardSimulator
from drivers.sim.paced import PacedLine
from drivers.sim.pty import PtyPort
from drivers.thermo.simulator import ThermoSimulator

runner = CliRunner()


def capture(port: str, out: Path, *args: str) -> None:
    result = runner.invoke(app, ["doctor", "--capture", port, "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output


@pytest.mark.parametrize("protocol", ["gy-mcu", "modbus"])
def test_a_thermometer_capture_names_its_protocol_and_speed_and_gives_every_reading(
    tmp_path: Path, protocol: str
) -> None:
    out = tmp_path / "thermo.capture"
    with (
        ThermoSimulator(protocol, tmp_path / "thermo") as sim,
        PacedLine(sim.link, tmp_path / "line", 9600, seed=3) as line,
    ):
        sim.subject(38.4)
        capture(line.path, out, "--seconds", "2.5")  # every usual speed, half a second each
    result = runner.invoke(app, ["thermo", "parse", "--protocol", "auto", f"@{out}", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert rows and {(r["protocol"], r["baud"]) for r in rows} == {(protocol, 9600)}
    assert f"fits: {protocol} at 9600 baud" in result.stdout
    assert any(abs(r["object_c"] - 38.4) < 3 for r in rows)  # the forehead reads lower than the body


def test_an_idcard_reader_capture_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "reader.capture"
    with (
        IdCardSimulator(tmp_path / "idcard") as sim,
        PacedLine(sim.path, tmp_path / "line", 115200, seed=5) as line,
    ):
        capture(line.path, out, "--seconds", "2.5")
    result = runner.invoke(app, ["idcard", "parse", f"@{out}"])
    assert result.exit_code == 0, result.output
    assert "fits: ID-card reader (GA/T 467) at 115200 baud" in result.stdout
    assert "status: " in result.stdout
    assert "9600 baud" not in result.stdout  # garbage at the wrong speed is not taken for frames


def test_a_capture_of_an_unknown_device_says_where_decoding_fails(tmp_path: Path) -> None:
    out = tmp_path / "unknown.capture"
    stop = threading.Event()
    with PtyPort(tmp_path / "unknown", lambda _data: None) as port:

        def chatter() -> None:  # a module nobody here knows: its own frames, ten times a second
            while not stop.wait(0.1):
                port.write(bytes.fromhex("fe 01 0e 10 27 99"))

        thread = threading.Thread(target=chatter, daemon=True)
        thread.start()
        capture(port.path, out, "--seconds", "1", "--baud", "9600")
        stop.set()
        thread.join()
    thermo = runner.invoke(app, ["thermo", "parse", "--protocol", "auto", f"@{out}"])
    assert thermo.exit_code == 2
    assert "no thermometer protocol fits" in thermo.stderr
    assert "gy-mcu at 9600 baud:" in thermo.stderr and "fails at byte 0 (t=" in thermo.stderr
    assert "fe 01 0e 10 27 99" in thermo.stderr
    reader = runner.invoke(app, ["idcard", "parse", f"@{out}"])
    assert reader.exit_code == 2 and "9600 baud" in reader.stderr and "fails at byte 0" in reader.stderr


def test_a_broken_capture_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.capture"
    bad.write_text('{"format": "checkpoint-capture/1", "port": "/dev/x", "started": "2026-01-01T00:00:00"}\nnot json\n')
    result = runner.invoke(app, ["thermo", "parse", "--protocol", "auto", f"@{bad}"])
    assert result.exit_code == 2 and "not a readable capture (line 2)" in result.stderr

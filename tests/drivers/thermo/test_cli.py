"""`checkpoint thermo parse | watch | calibrate`, through the root command line."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from checkpoint.cli import app
from drivers.thermo.simulator import ThermoSimulator
from tests.mqtt import wait_until

runner = CliRunner()


@pytest.mark.parametrize(("args", "expected"), [
    (["--protocol", "gy-mcu", "5A 5A 45 04 0C 78 0D 19 A7"], {"object_c": 31.92, "ambient_c": 33.53}),
    (["--protocol", "aa-a5", "AA", "A5", "08", "01", "02", "01", "6D", "00", "FA", "73", "55"],
     {"object_c": 36.5, "ambient_c": 25.0}),
    (["--protocol", "modbus", "0103 02016D 7839"], {"object_c": 36.5, "ambient_c": None}),
    (["--protocol", "modbus", "--modbus-address", "2", "020302016D3C39"], {"object_c": 36.5, "ambient_c": None}),
    (["--protocol", "ascii", b"T:36.5\r\n".hex()], {"object_c": 36.5, "ambient_c": None}),
])
def test_parse_prints_the_temperatures_as_json(args: list[str], expected: dict) -> None:
    result = runner.invoke(app, ["thermo", "parse", "--json", *args])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == expected


@pytest.mark.parametrize(("args", "message"), [
    (["--protocol", "modbus", "01 03 02 01 6D 78 38"], "CRC mismatch"),
    (["--protocol", "gy-mcu", "5A 5A 45"], "incomplete"),
    (["--protocol", "gy-mcu", "not hex"], "non-hexadecimal"),
    (["--protocol", "dallas", "00"], "unknown thermometer protocol"),
    (["--protocol", "ascii", "--ascii-pattern", "T:(\\d+)", "00"], "pattern"),
])
def test_parse_refuses_with_one_clear_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["thermo", "parse", *args])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


BOX = """# box 17, Wuqiao toll station (synthetic)
site: demo-site   # keep me
device: box-17
signing_key: {{hex: "1111111111111111111111111111111111111111111111111111111111111111"}}
pseudonym_key: {{hex: "2222222222222222222222222222222222222222222222222222222222222222"}}
central_key: {{hex: "3333333333333333333333333333333333333333333333333333333333333333"}}
thermo:
  protocol: aa-a5
  port: {port}
  offset_c: 0.10  # last calibrated in March
metrics_interval_s: 30
"""


def test_calibrate_with_a_typed_reading_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    box = tmp_path / "box.yaml"
    box.write_text(BOX.format(port="/dev/thermo"))
    result = runner.invoke(app, ["thermo", "calibrate", "--config", str(box), "--reference", "36.9",
                                 "--object-c", "36.05"])
    assert result.exit_code == 0, result.output
    assert box.read_text() == BOX.format(port="/dev/thermo").replace("offset_c: 0.10", "offset_c: 0.85")


def test_calibrate_refuses_an_implausible_offset(tmp_path: Path) -> None:
    box = tmp_path / "box.yaml"
    result = runner.invoke(app, ["thermo", "calibrate", "--config", str(box), "--reference", "36.9",
                                 "--object-c", "24.0"])
    assert result.exit_code == 2 and "implausible" in result.stderr
    assert not box.exists()


def present_once_read(sim: ThermoSimulator, body_c: float) -> None:
    """Step up once the tool has seen the empty scene, as the operator is told to."""
    wait_until(lambda: sim.frames_sent >= 3, timeout=10, what="readings of the empty scene")
    sim.subject(body_c)  # a subject whose clinical thermometer read `body_c`


def test_calibrate_measures_the_reference_through_the_device(tmp_path: Path) -> None:
    box = tmp_path / "box.yaml"
    with ThermoSimulator("aa-a5", tmp_path / "thermo") as sim:
        box.write_text(BOX.format(port=sim.link))
        threading.Thread(target=present_once_read, args=(sim, 37.0), daemon=True).start()
        result = runner.invoke(app, ["thermo", "calibrate", "--config", str(box), "--reference", "37.0",
                                     "--timeout", "20"])
    assert result.exit_code == 0, result.output
    offset = yaml.safe_load(box.read_text())["thermo"]["offset_c"]
    assert offset == pytest.approx(sim.scene.forehead_gap_c, abs=0.4)


def test_watch_prints_readings_and_measurements(tmp_path: Path) -> None:
    with ThermoSimulator("gy-mcu", tmp_path / "thermo", stream_interval_s=0.05) as sim:
        sim.subject(36.8)
        result = runner.invoke(app, ["thermo", "watch", "--port", str(sim.link), "--protocol", "gy-mcu",
                                     "--seconds", "2.5", "--json"])
    assert result.exit_code == 0, result.output
    kinds = {json.loads(line)["event"] for line in result.stdout.splitlines()}
    assert {"RawReading", "DeviceHealth"} <= kinds


def test_watch_without_a_port_says_so() -> None:
    result = runner.invoke(app, ["thermo", "watch", "--protocol", "gy-mcu"])
    assert result.exit_code == 2 and "no port" in result.stderr

"""Each protocol family end to end: Thermometer <-> ThermoSimulator over a real pseudo-terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from drivers.base import HealthState
from drivers.sim.paced import PacedLine
from drivers.thermo.codecs.ascii_line import AsciiOptions
from drivers.thermo.codecs.gy_mcu import GyMcuOptions
from drivers.thermo.device import ThermoConfig, Thermometer
from drivers.thermo.events import RawReading
from drivers.thermo.simulator import ThermoSimulator
from tests.drivers.thermo.helpers import running

CASES: list[tuple[str, str, BaseModel | None]] = [
    ("gy-mcu query", "gy-mcu", GyMcuOptions(mode="query")),
    ("gy-mcu stream", "gy-mcu", GyMcuOptions(mode="stream")),
    ("aa-a5", "aa-a5", None),
    ("modbus", "modbus", None),
    ("ascii stream", "ascii", None),
    ("ascii polled", "ascii", AsciiOptions(request="READ\r\n")),
]


def config(sim: ThermoSimulator, protocol: str, options: BaseModel | None, **extra: Any) -> ThermoConfig:
    from drivers.thermo.codecs import family

    fields: dict[str, Any] = {"protocol": protocol, "port": str(sim.link), "offset_c": sim.scene.forehead_gap_c,
                              "poll_interval_s": 0.05, "silence_timeout_s": 0.6, "degraded_hold_s": 0.3, **extra}
    if options is not None:
        fields[family(protocol).options_key] = options
    return ThermoConfig(**fields)


@pytest.mark.parametrize(("protocol", "options"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_reads_through_its_simulator_with_faults_injected(
    tmp_path: Path, protocol: str, options: BaseModel | None
) -> None:
    with ThermoSimulator(protocol, tmp_path / "thermo", options=options, stream_interval_s=0.05) as sim, \
            running(Thermometer(config(sim, protocol, options))) as events:
        events.health(HealthState.OK)
        sim.subject(37.0)
        first = events.measured()
        assert first.status == "measured" and first.protocol == protocol
        assert first.body_c == pytest.approx(37.0, abs=0.4)

        sim.nobody()
        sim.corrupt_next(3)
        sim.inject_garbage()
        events.health(HealthState.DEGRADED)
        events.health(HealthState.OK)

        sim.silent = True
        assert "no reading" in events.health(HealthState.DISCONNECTED).detail
        sim.silent = False
        events.health(HealthState.OK)

        sim.unplug()
        events.health(HealthState.DISCONNECTED)
        sim.plug()
        events.health(HealthState.OK)

        sim.subject(39.2)
        second = events.measured()
        assert second.status == "measured"
        assert second.body_c == pytest.approx(39.2, abs=0.4)


def test_raw_readings_are_emitted_when_asked(tmp_path: Path) -> None:
    with ThermoSimulator("modbus", tmp_path / "thermo") as sim, \
            running(Thermometer(config(sim, "modbus", None, emit_raw=True))) as events:
        reading = events.wait_for(lambda e: isinstance(e, RawReading), "raw reading")
        assert isinstance(reading, RawReading) and reading.ambient_c is None


def test_a_missing_port_is_reported_and_retried_until_stopped(tmp_path: Path) -> None:
    cfg = ThermoConfig(protocol="aa-a5", port=str(tmp_path / "nothing-here"))
    with running(Thermometer(cfg)) as events:
        assert events.health(HealthState.DISCONNECTED).name == str(tmp_path / "nothing-here")


PACED = [c for c in CASES if c[0] in ("gy-mcu query", "aa-a5", "modbus", "ascii stream")]


@pytest.mark.parametrize(("protocol", "options"), [c[1:] for c in PACED], ids=[c[0] for c in PACED])
def test_measures_over_a_line_at_real_speed_split_anywhere_with_noise_and_gaps(
    tmp_path: Path, protocol: str, options: BaseModel | None
) -> None:
    from drivers.thermo.codecs import family

    baud = family(protocol).default_baud
    with (
        ThermoSimulator(protocol, tmp_path / "thermo", options=options, stream_interval_s=0.05) as sim,
        PacedLine(sim.link, tmp_path / "paced", baud, seed=7, gaps=0.05, gap_s=0.02, max_chunk=4) as line,
        running(Thermometer(config(sim, protocol, options, port=line.path))) as events,
    ):
        events.health(HealthState.OK)
        sim.subject(37.0)
        assert events.measured().body_c == pytest.approx(37.0, abs=0.4)
        sim.nobody()
        line.noise = 0.2
        events.health(HealthState.DEGRADED)
        line.noise = 0.0
        events.health(HealthState.OK)
        sim.subject(39.2)
        assert events.measured().body_c == pytest.approx(39.2, abs=0.4)
    assert line.held > 0 and line.flipped + line.dropped > 0

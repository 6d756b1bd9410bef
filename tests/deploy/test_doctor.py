"""`checkpoint doctor` against the device simulators on pseudo-terminals and the production broker."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from checkpoint.cli import app
from checkpoint.doctor.probes import all_probes
from checkpoint.doctor.serial_scan import probe_port, probe_ports
from checkpoint.provision import actions
from checkpoint.provision.deployment import Deployment, Login
from checkpoint.provision.trial_broker import TrialBroker
from contract.messages import CheckpointKind, CodeColour
from drivers.idcard.simulator import IdCardSimulator
from drivers.thermo.codecs import FAMILIES
from drivers.thermo.simulator import ThermoSimulator
from tests.deploy.conftest import install_bundle


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An ID-card reader and one thermometer of every family, each on its own pty."""
    with ExitStack() as stack:
        ports = {"idcard": stack.enter_context(IdCardSimulator(tmp_path / "idcard")).path}
        for name in FAMILIES:
            sim = stack.enter_context(ThermoSimulator(name, tmp_path / f"thermo-{name}"))
            ports[name] = str(sim.link)
        yield ports


def test_every_simulated_device_is_identified_on_its_port(bench: dict[str, str]) -> None:
    for expected, found in zip(bench, probe_ports(list(bench.values())), strict=True):
        assert found.probe is not None, f"{expected}: {found.detail}"
        assert found.probe.protocol == ("gat467" if expected == "idcard" else expected), found.detail


def test_a_silent_port_is_reported_as_such(tmp_path: Path) -> None:
    with IdCardSimulator(tmp_path / "mute") as sim:
        sim.silent = True
        found = probe_port(sim.path, all_probes()[:2])
    assert found.probe is None and "nothing answered" in found.detail


def _bundle_config(deployment: Deployment, device: str, **sections: object) -> Path:
    """The box's agent.yaml, its bundle installed, with `sections` added."""
    path = install_bundle(deployment, device)
    set_sections(path, **sections)
    return path


@pytest.fixture
def box_config(deployment: Deployment, trial_broker: TrialBroker) -> Path:
    actions.provision(deployment, "box-1", "site-1", CheckpointKind.TRAFFIC, Login.PASSWORD)
    return _bundle_config(deployment, "box-1")


def run_doctor(config: Path, *args: str) -> tuple[int, str]:
    runner = CliRunner(env={"COLUMNS": "300"})  # one table row per line
    result = runner.invoke(app, ["doctor", "--config", str(config), "--no-scan", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def rows(output: str) -> dict[str, str]:
    """check name -> the rest of its table row."""
    out = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if len(cells) == 3 and cells[0] and cells[1] in ("ok", "warn", "fail"):
            out[cells[0]] = f"{cells[1]} {cells[2]}"
    return out


def set_sections(config: Path, **sections: object) -> None:
    data = yaml.safe_load(config.read_text())
    data.update(sections)
    config.write_text(yaml.safe_dump(data))


def test_doctor_names_each_device_and_passes(box_config: Path, tmp_path: Path) -> None:
    with IdCardSimulator(tmp_path / "idcard") as reader, ThermoSimulator("aa-a5", tmp_path / "thermo") as thermo:
        # as if the udev rules had named them: agent.yaml's ports lead to the simulators
        set_sections(box_config, idcard={"port": reader.path}, thermo={"port": str(thermo.link), "protocol": "aa-a5"})
        code, output = run_doctor(box_config, "--port", reader.path, "--port", str(thermo.link),
                                  "--skip", "camera", "--skip", "clock")
    table = rows(output)
    assert code == 0, output
    assert table["ID-card reader"] == f"ok gat467 at {reader.path}"
    assert table["thermometer"] == f"ok aa-a5 at {thermo.link}"
    assert table["broker"].startswith("ok ") and "password, TLS" in table["broker"]
    assert table["disk"].split()[0] in ("ok", "warn")


def test_doctor_fails_when_the_reader_is_missing_or_not_where_the_config_says(
    deployment: Deployment, trial_broker: TrialBroker, tmp_path: Path
) -> None:
    actions.provision(deployment, "box-2", "site-1", CheckpointKind.TRAFFIC, Login.CERTIFICATE)
    with ThermoSimulator("gy-mcu", tmp_path / "thermo") as thermo:
        config = _bundle_config(deployment, "box-2", thermo={"port": "/dev/checkpoint-thermo"})
        code, output = run_doctor(config, "--port", str(thermo.link), "--skip", "camera", "--skip", "clock")
    table = rows(output)
    assert code == 1, output
    assert table["ID-card reader"] == "fail not found on any serial port"
    assert table["thermometer"].startswith("fail answers at") and "/dev/checkpoint-thermo" in table["thermometer"]
    assert "certificate, TLS" in table["broker"]


def test_doctor_fails_on_a_refused_login(box_config: Path, deployment: Deployment, tmp_path: Path) -> None:
    config = yaml.safe_load(box_config.read_text())
    config["mqtt"]["password"] = "wrong"
    box_config.write_text(yaml.safe_dump(config))
    code, output = run_doctor(box_config, "--skip", "serial", "--skip", "camera", "--skip", "clock")
    assert code == 1
    assert rows(output)["broker"].startswith("fail") and "refused" in rows(output)["broker"]


def test_the_doctor_reads_the_configuration_as_the_agent_does(
    box_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One loader: an environment override the agent would obey is what the doctor checks too."""
    code, output = run_doctor(box_config, "--skip", "serial", "--skip", "camera", "--skip", "clock")
    assert code == 0 and rows(output)["broker"].startswith("ok")
    monkeypatch.setenv("CHECKPOINT_AGENT_MQTT__PASSWORD", "wrong")
    code, output = run_doctor(box_config, "--skip", "serial", "--skip", "camera", "--skip", "clock")
    assert code == 1 and "refused" in rows(output)["broker"]


def test_clock_row_says_what_the_kernel_says(box_config: Path) -> None:
    from agent import metrics

    _, output = run_doctor(box_config, "--skip", "serial", "--skip", "camera", "--skip", "broker")
    assert rows(output)["clock"].split()[0] == ("ok" if metrics.clock_synchronised() else "fail")


def test_bad_arguments_are_one_line_errors(box_config: Path, tmp_path: Path) -> None:
    assert run_doctor(box_config, "--skip", "nonsense")[0] == 2
    assert run_doctor(tmp_path / "missing.yaml")[0] == 2


def test_the_camera_check_reports_size_rate_and_a_test_decode(box_config: Path, tmp_path: Path) -> None:
    import cv2

    from drivers.camera.scene import PhoneScene

    scene, folder = PhoneScene(seed=3), tmp_path / "frames"
    folder.mkdir()
    scene.show("CKHC1.synthetic-test-code", CodeColour.GREEN)
    for n in range(6):
        cv2.imwrite(str(folder / f"{n:02}.png"), scene.render(640, 480))
    code, output = run_doctor(box_config, "--camera", str(folder), "--skip", "serial", "--skip", "clock")
    table = rows(output)
    assert code == 0, output
    assert table[f"camera {folder}"].startswith("ok 640×480")
    assert table["test decode"].startswith("ok QR code read (25 characters")


def test_a_camera_that_cannot_open_fails(box_config: Path, tmp_path: Path) -> None:
    code, output = run_doctor(box_config, "--camera", str(tmp_path / "no-such-video.mp4"),
                              "--skip", "serial", "--skip", "clock", "--skip", "broker")
    assert code == 1
    assert rows(output)[f"camera {tmp_path / 'no-such-video.mp4'}"].startswith("fail")


def test_doctor_fails_when_the_thermometer_speaks_another_protocol_than_configured(
    box_config: Path, tmp_path: Path
) -> None:
    with ThermoSimulator("modbus", tmp_path / "thermo") as thermo:
        set_sections(box_config, thermo={"port": str(thermo.link), "protocol": "gy-mcu"})
        code, output = run_doctor(box_config, "--port", str(thermo.link), "--skip", "camera", "--skip", "clock",
                                  "--skip", "broker")
    assert code == 1
    assert rows(output)["thermometer"].startswith("fail speaks modbus") and "says protocol gy-mcu" in output

"""`checkpoint doctor`: run every check on this box, print one table, exit 1 if any check failed.

Light at import: pyserial, OpenCV and paho load when the command runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from checkpoint.doctor.report import Check, State
from common import device_names
from common.settings import ConfigError

if TYPE_CHECKING:
    from agent.config import AgentSettings

CHECK_NAMES = ("serial", "camera", "broker", "clock", "disk")


def doctor(
    config: Annotated[Path, typer.Option("--config", "-c", help="The box's agent.yaml.")] = Path(
        "/etc/checkpoint/agent.yaml"
    ),
    port: Annotated[list[str] | None, typer.Option(help="Also probe this serial port (repeatable).")] = None,
    scan: Annotated[bool, typer.Option(help="Probe every serial port found, not only the --port ones.")] = True,
    camera: Annotated[
        str | None, typer.Option(help="Camera source (device, index, stream, video file or image folder).")
    ] = None,
    skip: Annotated[list[str] | None, typer.Option(help=f"Skip a check: {', '.join(CHECK_NAMES)}.")] = None,
    capture: Annotated[
        str | None, typer.Option(metavar="PORT", help="Only record what the device on PORT says (see --out).")
    ] = None,
    seconds: Annotated[float, typer.Option(help="--capture: how long to record.", min=0.5)] = 10.0,
    baud: Annotated[int | None, typer.Option(help="--capture: the speed; default: each usual one in turn.")] = None,
    send: Annotated[
        list[str] | None, typer.Option(help="--capture: ask with these bytes (hex) instead of the known requests.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="--capture: the file to write.")] = None,
) -> None:
    """Check this box: which device is on which serial port, the camera, the broker login, the clock, the disk.

    With --capture PORT --out FILE: record the raw bytes on PORT with their times instead, for
    `checkpoint idcard parse @FILE` / `checkpoint thermo parse --protocol auto @FILE`."""
    from rich.console import Console

    from checkpoint.doctor.report import failed, table

    if capture is not None:
        _capture(capture, seconds, baud, send, out)
        return

    skipped = set(skip or ())
    if unknown := skipped - set(CHECK_NAMES):
        typer.secho(
            f"--skip: unknown check(s) {', '.join(sorted(unknown))}; known: {', '.join(CHECK_NAMES)}",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    from agent.config import load

    try:
        box = load(config)  # the agent's own loader: the file, then CHECKPOINT_AGENT_*
    except ConfigError as exc:
        typer.secho(f"configuration error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    checks = run_checks(box, port or [], scan, camera, skipped)
    Console().print(table(checks, f"checkpoint doctor: {box.device} ({box.site}, {box.kind.value})"))
    raise typer.Exit(1 if failed(checks) else 0)


def _capture(port: str, seconds: float, baud: int | None, send: list[str] | None, out: Path | None) -> None:
    import serial

    from checkpoint.doctor.capture import record

    if out is None:
        typer.secho("--capture needs --out FILE: where to write what was recorded", fg="red", err=True)
        raise typer.Exit(2)
    try:
        asks = [bytes.fromhex(h.replace(":", " ")) for h in send] if send else None
    except ValueError:
        typer.secho("--send: give bytes in hex, like 'a5 15 ba'", fg="red", err=True)
        raise typer.Exit(2) from None
    speeds = f"{baud} baud" if baud else "each usual speed in turn"
    typer.echo(f"recording {port} for {seconds:g} s at {speeds} …")
    try:
        recorded = record(port, seconds, baud, asks)
    except serial.SerialException as exc:
        typer.secho(f"cannot read {port}: {exc} (stop the agent first if it holds the port)", fg="red", err=True)
        raise typer.Exit(1) from None
    recorded.dump(out)
    received = {b: sum(len(c.data) for c in recorded.received(b)) for b in recorded.bauds()}
    typer.echo(
        f"wrote {out}: "
        + ", ".join(f"{n} bytes received at {b} baud" for b, n in received.items())
        + f". Decode it: checkpoint thermo parse --protocol auto @{out}  |  checkpoint idcard parse @{out}"
    )


def run_checks(box: AgentSettings, ports: list[str], scan: bool, camera: str | None, skipped: set[str]) -> list[Check]:
    from agent import doctor as box_checks
    from checkpoint.doctor import host_checks

    checks = [Check(name=name, state=State.WARN, detail="skipped") for name in CHECK_NAMES if name in skipped]
    if "serial" not in skipped:
        checks += _serial(box, ports, scan)
    if "camera" not in skipped:
        checks += _camera(box, camera)
    if "broker" not in skipped:
        checks.append(host_checks.broker(box.mqtt, box.device))
    if "clock" not in skipped:
        checks.append(box_checks.clock())
    if "disk" not in skipped:
        checks.append(box_checks.disk(box.outbox.path))
    return checks


def _camera(box: AgentSettings, source: str | None) -> list[Check]:
    from checkpoint.doctor.camera_check import camera
    from drivers.camera.capture import CameraConfig

    default = device_names.CAMERA if os.path.exists(device_names.CAMERA) else "0"
    config = box.camera or CameraConfig(source=default)
    return camera(config if source is None else config.model_copy(update={"source": source}))


def _serial(box: AgentSettings, ports: list[str], scan: bool) -> list[Check]:
    from checkpoint.doctor.probes import IDCARD, THERMO
    from checkpoint.doctor.serial_scan import candidate_ports, probe_ports

    thermo_protocol = box.thermo.protocol if box.thermo else None
    configured = {IDCARD: box.idcard.port if box.idcard else None, THERMO: box.thermo.port if box.thermo else None}
    found = probe_ports(candidate_ports(ports, scan))
    checks = [
        Check(
            name=f"port {f.port}",
            state=State.OK if f.probe else State.WARN,
            detail=f"{f.probe.label}: {f.detail}" if f.probe else f.detail,
        )
        for f in found
    ]
    if not found:
        checks.append(Check(name="serial ports", state=State.WARN, detail="none found (USB cables plugged in?)"))
    required = {THERMO: True, IDCARD: box.kind.value == "traffic"}
    for device, label in ((IDCARD, "ID-card reader"), (THERMO, "thermometer")):
        where = [f for f in found if f.probe is not None and f.probe.device == device]
        if not where:
            state = State.FAIL if required[device] else State.WARN
            checks.append(Check(name=label, state=state, detail="not found on any serial port"))
            continue
        hit = where[0]
        assert hit.probe is not None
        want = configured[device]
        if want and os.path.realpath(want) != os.path.realpath(hit.port):
            elsewhere = f"answers at {hit.port}, but agent.yaml says port {want}"
            checks.append(Check(name=label, state=State.FAIL, detail=elsewhere))
        elif device == THERMO and thermo_protocol not in (None, hit.probe.protocol):
            checks.append(
                Check(
                    name=label,
                    state=State.FAIL,
                    detail=f"speaks {hit.probe.protocol} at {hit.port}, but agent.yaml says protocol {thermo_protocol}",
                )
            )
        else:
            checks.append(Check(name=label, state=State.OK, detail=f"{hit.probe.protocol} at {hit.port}"))
    return checks

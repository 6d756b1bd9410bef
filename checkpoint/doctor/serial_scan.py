"""The serial ports of the box, each probed with every protocol until one answers.

Thin transport around `probes`: open the port at the probe's speed, drop what is waiting, send the
request, feed what arrives to the probe's recogniser until it says yes or its time is up. A port
another process holds (the agent) is reported busy rather than probed.
"""

from __future__ import annotations

import glob
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import serial
from serial.tools import list_ports

from checkpoint.doctor.probes import Probe, all_probes

STABLE_NAMES = "/dev/checkpoint-*"


@dataclass(frozen=True)
class Found:
    port: str
    probe: Probe | None  # None: nothing answered
    detail: str


def candidate_ports(given: list[str], scan: bool = True) -> list[str]:
    """The ports given, then (with `scan`) the stable names udev made and every USB serial port;
    one entry per device, by the first name it was found under. The board's own UARTs (a serial
    console, the Bluetooth module) are probed only when given: bytes sent there are not harmless."""
    usb = [p.device for p in list_ports.comports() if p.vid is not None]
    found = [*sorted(glob.glob(STABLE_NAMES)), *usb] if scan else []
    seen: dict[str, str] = {}
    for path in [*given, *found]:
        real = os.path.realpath(path)
        if Path(real).exists() and not real.startswith("/dev/video"):
            seen.setdefault(real, path)
    return list(seen.values())


def probe_ports(ports: list[str]) -> list[Found]:
    """Every port with every protocol; the ports side by side (each is its own device)."""
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(ports)))) as pool:
        return list(pool.map(lambda port: probe_port(port, all_probes()), ports))


def probe_port(port: str, probes: list[Probe]) -> Found:
    for probe in probes:
        try:
            answer = _ask(port, probe)
        except serial.SerialException as exc:
            if "busy" in str(exc).lower() or "lock" in str(exc).lower():
                return Found(port, None, "busy: another program holds it (stop the agent first)")
            return Found(port, None, f"cannot open: {exc}")
        if answer is not None:
            return Found(port, probe, f"{answer}, {probe.baud} baud")
    return Found(port, None, "nothing answered any protocol")


def _ask(port: str, probe: Probe) -> str | None:
    recognise = probe.recogniser()
    with serial.Serial(port, probe.baud, timeout=0.05, write_timeout=1.0, exclusive=True) as link:
        link.reset_input_buffer()
        if probe.request:
            link.write(probe.request)
        deadline = time.monotonic() + probe.listen_s
        while time.monotonic() < deadline:
            chunk = link.read(link.in_waiting or 1)
            if chunk and (answer := recognise(chunk)) is not None:
                return answer
    return None

"""Thermometer driver: codec throughput per protocol family, and the transport's idle CPU.

Throughput: a recorded-style stream of reading frames is fed to each codec in 64-byte chunks (what
a serial read returns); the baseline, in the same run, is the floor — slicing the same stream into
fixed frames (or lines) and converting the numbers, with no hunting and no checks. The target is
ten times the most frames the line can carry at the family's default speed.

Idle CPU: the simulator runs in a child process with nobody in front of it (so only our side is
counted); the `Thermometer` reads it for a few seconds at its default poll interval (or the stream
rate). The baseline is a bare pyserial loop doing the same requests and reads without decoding.
Target: under 1 % of a core.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import serial

from bench.harness import Figure, child_processes, cpu_percent_of_core, decode_figure, idle_cpu_figure, run_device
from drivers.thermo.codecs import FAMILIES, aa_a5, ascii_line, gy_mcu, modbus
from drivers.thermo.device import ThermoConfig, Thermometer

CHUNK = 64
LINE_FORMAT = "T:{object:.2f} A:{ambient:.2f}\r\n"

ENCODERS: dict[str, Callable[[float, float], bytes]] = {
    "gy-mcu": gy_mcu.encode_reading,
    "aa-a5": aa_a5.encode_reading,
    "modbus": lambda o, _a: modbus.encode_reading(modbus.ModbusOptions(), o),
    "ascii": lambda o, a: ascii_line.encode_reading(o, a, LINE_FORMAT),
}
FLOORS: dict[str, Callable[[bytes], int]] = {  # frames found by slicing, no checks
    "gy-mcu": lambda s: len([int.from_bytes(s[i + 4 : i + 6], "big", signed=True) for i in range(0, len(s), 9)]),
    "aa-a5": lambda s: len([int.from_bytes(s[i + 5 : i + 7], "big", signed=True) for i in range(0, len(s), 11)]),
    "modbus": lambda s: len([int.from_bytes(s[i + 3 : i + 5], "big", signed=True) for i in range(0, len(s), 7)]),
    "ascii": lambda s: len([float(line[2 : line.index(b" ")]) for line in s.split(b"\n") if line]),
}


def run(quick: bool) -> list[Figure]:
    frames = 5_000 if quick else 50_000
    idle_s = 2.0 if quick else 8.0
    figures = [_throughput(name, frames) for name in FAMILIES]
    figures += [_idle_cpu(name, idle_s) for name in FAMILIES]
    return figures


def _throughput(name: str, count: int) -> Figure:
    rng = random.Random(1)
    stream = b"".join(ENCODERS[name](round(rng.uniform(20, 40), 1), 25.0) for _ in range(count))
    codec, at = FAMILIES[name].make(), datetime.now(UTC)
    t0 = time.perf_counter()
    decoded = sum(len(codec.feed(stream[i : i + CHUNK], at)) for i in range(0, len(stream), CHUNK))
    codec_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    floor = FLOORS[name](stream)
    floor_s = time.perf_counter() - t0
    assert decoded == floor == count, (name, decoded, floor, count)
    floor_name = "slicing fixed frames with no hunt or checks"
    baud = FAMILIES[name].default_baud
    return decode_figure(
        "thermo", f"{name} decode throughput", count, codec_s, floor_s, floor_name, baud, len(stream) / count
    )


def _idle_cpu(name: str, seconds: float) -> Figure:
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / "thermo"
        with child_processes("bench.children.serial_simulator", ["thermo", name, str(link)]):
            config = ThermoConfig(protocol=name, port=str(link))
            baseline = cpu_percent_of_core(lambda: _bare_loop(config, seconds), seconds)
            value = cpu_percent_of_core(lambda: run_device(Thermometer(config), seconds), seconds)
    bare = "bare pyserial loop, same requests and read timeout, no decoding"
    return idle_cpu_figure("thermo", f"{name} transport idle CPU", value, baseline, bare)


def _bare_loop(config: ThermoConfig, seconds: float) -> None:
    codec = FAMILIES[config.protocol].make()
    start, poll = codec.start_request(), codec.poll_request()
    received = 0
    with serial.Serial(config.port, config.effective_baud, timeout=Thermometer(config).read_timeout_s) as port:
        if start:
            port.write(start)
        end = next_poll = time.monotonic()
        end += seconds
        while (now := time.monotonic()) < end:
            if poll is not None and now >= next_poll:
                port.write(poll)
                next_poll = now + config.poll_interval_s
            received += len(port.read(port.in_waiting or 1))
    assert received, "the bare loop read nothing"


if __name__ == "__main__":
    for figure in run(quick="--full" not in sys.argv):
        print(
            f"{figure.name:34} {figure.value:>12} {figure.unit:12} baseline {figure.baseline:>12}  "
            f"{figure.target}  met={figure.met}"
        )

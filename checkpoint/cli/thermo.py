"""`checkpoint thermo …`: the field tool for serial thermometers.

`parse` decodes one captured frame, `watch` shows a live device (readings, measurements, health),
`calibrate` records the forehead -> body offset against a reference and writes it into the box's
configuration (`thermo.offset_c`).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
import yaml
from pydantic import BaseModel, ValidationError

from common.settings import ConfigError
from drivers.thermo.events import RawReading, TemperatureMeasured

if TYPE_CHECKING:
    from drivers import serial_capture
    from drivers.thermo.codecs import Codec
    from drivers.thermo.device import ThermoConfig

app = typer.Typer(no_args_is_help=True, help="Serial thermometers: decode frames, watch a device, calibrate.")

MAX_OFFSET_C = 5.0  # a larger correction means a bad aim or a bad reference, not a forehead


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def parse(
    frame: Annotated[
        list[str], typer.Argument(metavar="HEX...|@FILE", help="captured bytes in hex (spaces allowed), or @FILE")
    ],
    protocol: Annotated[str, typer.Option(help="gy-mcu, aa-a5, modbus, ascii, or auto: try each")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    modbus_address: Annotated[int, typer.Option(help="modbus: slave address")] = 1,
    modbus_scale: Annotated[float, typer.Option(help="modbus: °C per count")] = 0.1,
    modbus_unsigned: Annotated[bool, typer.Option(help="modbus: the register is unsigned")] = False,
    ascii_pattern: Annotated[str | None, typer.Option(help="ascii: regex with group (?P<object>…)")] = None,
) -> None:
    """Decode captured bytes (one frame in hex, a raw file, or a `checkpoint doctor --capture` file) and
    print the temperatures; with --protocol auto, name the protocol (and speed) that fits."""
    from drivers import serial_capture
    from drivers.thermo.codecs import FAMILIES, FrameError

    overrides: dict[str, dict[str, Any]] = {
        "modbus": {"address": modbus_address, "scale": modbus_scale, "signed": not modbus_unsigned},
        "ascii": {"pattern": ascii_pattern} if ascii_pattern else {},
    }
    names = list(FAMILIES) if protocol == "auto" else [protocol]
    makers = {name: _codec_maker(name, overrides) for name in names}
    capture = _read_capture(frame)
    if capture is not None or protocol == "auto":
        if capture is None:
            data = _bytes_of(frame)
            chunk = serial_capture.Chunk(t=0.0, dir="rx", baud=0, data=data)
            capture = serial_capture.Capture(port="(given bytes)", started=datetime.now(UTC), chunks=[chunk])
        _parse_capture(capture, makers, as_json)
        return
    data = _bytes_of(frame)
    events = makers[protocol]().feed(data, datetime.now(UTC))
    if errors := [e for e in events if isinstance(e, FrameError)]:
        _fail(f"not a valid {protocol} frame: {errors[0].reason} ({errors[0].raw.hex(' ')})")
    if not events:
        _fail(f"incomplete {protocol} frame: {len(data)} bytes and no reading")
    for reading in events:
        assert isinstance(reading, RawReading)
        if as_json:
            typer.echo(json.dumps({"object_c": reading.object_c, "ambient_c": reading.ambient_c}))
        else:
            typer.echo(_reading_line(reading))


def _codec_maker(name: str, overrides: dict[str, dict[str, Any]]) -> Callable[[], Codec]:
    from drivers.thermo.codecs import family

    try:
        fam = family(name)
        options = fam.options(**overrides.get(fam.options_key, {}))
    except ValidationError as exc:
        _fail(_first_error(exc))
    except ConfigError as exc:  # unknown protocol
        _fail(f"{exc}, or auto")
    return lambda: fam.make(options)


def _read_capture(frame: list[str]) -> serial_capture.Capture | None:
    from drivers import serial_capture

    if len(frame) != 1 or not frame[0].startswith("@"):
        return None
    try:
        return serial_capture.load(Path(frame[0][1:]))
    except OSError as exc:
        _fail(f"cannot read {frame[0][1:]}: {exc.strerror}")
    except serial_capture.CaptureFileError as exc:
        _fail(str(exc))


def _bytes_of(frame: list[str]) -> bytes:
    if len(frame) == 1 and frame[0].startswith("@"):
        return Path(frame[0][1:]).read_bytes()  # _read_capture has read it once already
    try:
        return bytes.fromhex("".join(frame))
    except ValueError:
        _fail("non-hexadecimal input: give bytes like 'a4 03 08 …' or @FILE")


def _parse_capture(capture: serial_capture.Capture, makers: dict[str, Callable[[], Codec]], as_json: bool) -> None:
    """Each protocol at each speed recorded: the ones that fit with their readings, or where each fails."""
    from drivers import serial_capture
    from drivers.thermo.codecs import FrameError

    results: dict[tuple[str, int], serial_capture.Replayed[RawReading]] = {}
    for baud in capture.bauds():
        for name, make in makers.items():
            codec = make()

            def step(data: bytes, codec: Codec = codec) -> list[RawReading | tuple[str, bytes]]:
                return [
                    (e.reason, e.raw) if isinstance(e, FrameError) else e
                    for e in codec.feed(data, capture.started)
                    if isinstance(e, FrameError | RawReading)
                ]

            def flush(codec: Codec = codec) -> tuple[str, int] | None:
                return ("incomplete frame at the end", codec.pending) if codec.pending else None

            results[(name, baud)] = serial_capture.replay(capture.received(baud), step, flush)
    fits = sorted(
        ((key, r) for key, r in results.items() if len(r.items) > r.errors),
        key=lambda kr: kr[1].errors - len(kr[1].items),
    )
    if not fits:
        lines = [f"no thermometer protocol fits the capture of {capture.port}:"]
        for (name, baud), r in results.items():
            where = str(r.first_failure) if r.first_failure else "no complete frame"
            lines.append(f"  {name}{f' at {baud} baud' if baud else ''}: {r.received} bytes; {where}")
        _fail("\n".join(lines))
    for (name, baud), r in fits:
        at = f" at {baud} baud" if baud else ""
        typer.echo(f"fits: {name}{at}: {len(r.items)} reading(s), {r.errors} frame(s) rejected")
        if r.first_failure:
            typer.echo(f"  first error: {r.first_failure}")
        for t, reading in r.items:
            if as_json:
                row = {"protocol": name, "baud": baud or None, "t": round(t, 3)}
                typer.echo(json.dumps(row | {"object_c": reading.object_c, "ambient_c": reading.ambient_c}))
            else:
                typer.echo(f"  t={t:.3f} s  " + _reading_line(reading))


@app.command()
def watch(
    port: Annotated[str | None, typer.Option(help="serial port (default: the config's)")] = None,
    protocol: Annotated[str | None, typer.Option(help="gy-mcu, aa-a5, modbus or ascii")] = None,
    baud: Annotated[int | None, typer.Option(help="default: the protocol's usual speed")] = None,
    config: Annotated[Path | None, typer.Option(help="the box's YAML configuration")] = None,
    seconds: Annotated[float, typer.Option(help="stop after this long; 0: until Ctrl-C")] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Print readings, measurements and health of a live thermometer."""
    cfg = _config(config, port=port, protocol=protocol, baud=baud, emit_raw=True)

    def show(event: BaseModel) -> bool:
        _print_event(event, as_json)
        return False

    _run_device(cfg, seconds, show)


@app.command()
def calibrate(
    config: Annotated[Path, typer.Option(help="the box's YAML configuration; thermo.offset_c is written")],
    reference: Annotated[float, typer.Option(help="the true temperature: black body set point or a "
                                                  "clinical thermometer reading of the subject, °C")],
    object_c: Annotated[float | None, typer.Option(help="the thermometer's reading, if already known; "
                                                        "otherwise it is measured now")] = None,
    port: Annotated[str | None, typer.Option(help="serial port (default: the config's)")] = None,
    protocol: Annotated[str | None, typer.Option(help="default: the config's")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for a measurement")] = 60.0,
) -> None:
    """Record the offset (reference - reading) and write it to thermo.offset_c in the configuration."""
    if object_c is None:
        cfg = _config(config, port=port, protocol=protocol)
        typer.echo(f"Reading {cfg.port}: keep its view empty for a second, then present the reference …")
        found: list[TemperatureMeasured] = []
        _run_device(cfg, timeout, lambda e: _complete(e, cfg.samples, found))
        if not found:
            _fail(f"no complete measurement within {timeout:g} s")
        object_c = found[0].object_c
    offset = round(reference - object_c, 2)
    if abs(offset) > MAX_OFFSET_C:
        _fail(f"offset {offset:+.2f} °C is implausible (limit ±{MAX_OFFSET_C:g}); check the aim and the reference")
    from checkpoint.cli.thermo_offset import with_offset

    try:
        text = config.read_text(encoding="utf-8") if config.exists() else ""
        config.write_text(with_offset(text, offset), encoding="utf-8")
    except (OSError, ValueError, yaml.YAMLError) as exc:
        _fail(f"cannot update {config}: {exc}")
    typer.echo(f"thermometer read {object_c:.2f} °C against {reference:.2f} °C: "
               f"thermo.offset_c = {offset:+.2f} written to {config}")


def _complete(event: BaseModel, samples: int, found: list[TemperatureMeasured]) -> bool:
    if isinstance(event, TemperatureMeasured) and event.samples == samples:
        found.append(event)
        return True
    return False


def _config(path: Path | None, **overrides: Any) -> ThermoConfig:
    """The box's thermometer as the agent would see it (its loader: the file, then CHECKPOINT_AGENT_*),
    with the command's options on top; without a configuration file, the options alone."""
    from agent.config import load
    from drivers.thermo.device import ThermoConfig

    section: dict[str, Any] = {}
    if path is not None and path.exists():
        try:
            thermo = load(path).thermo
        except ConfigError as exc:
            _fail(str(exc))
        section = thermo.model_dump(exclude_unset=True) if thermo is not None else {}
    section |= {k: v for k, v in overrides.items() if v is not None}
    if "port" not in section:
        _fail("no port: give --port or a configuration with thermo.port")
    try:
        return ThermoConfig.model_validate(section)
    except ValidationError as exc:
        _fail(_first_error(exc))


def _run_device(cfg: ThermoConfig, seconds: float, handle: Callable[[BaseModel], bool]) -> None:
    """Run the thermometer until `handle(event)` returns True, `seconds` pass, or Ctrl-C."""
    from drivers.thermo.device import Thermometer

    events: queue.Queue[BaseModel] = queue.Queue(maxsize=256)
    stop = threading.Event()
    worker = threading.Thread(target=Thermometer(cfg).run, args=(events.put, stop), daemon=True)
    worker.start()
    deadline = time.monotonic() + seconds if seconds > 0 else float("inf")
    try:
        while time.monotonic() < deadline:
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                continue
            if handle(event):
                break
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        while worker.is_alive():  # let a blocked put finish so the transport can see `stop`
            try:
                events.get(timeout=0.1)
            except queue.Empty:
                continue


def _print_event(event: BaseModel, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"event": type(event).__name__, **event.model_dump(mode="json")}))
    elif isinstance(event, RawReading):
        typer.echo(_reading_line(event))
    elif isinstance(event, TemperatureMeasured):
        value = f"body {event.body_c:.2f} °C" if event.body_c is not None else f"INVALID ({event.reason})"
        typer.echo(f"measured  {value}  object {event.object_c:.2f} offset {event.offset_c:+.2f} "
                   f"samples {event.samples}")
    else:
        typer.echo(f"health    {event.model_dump(mode='json')}")


def _reading_line(reading: RawReading) -> str:
    ambient = "-" if reading.ambient_c is None else f"{reading.ambient_c:.2f}"
    return f"reading   object {reading.object_c:.2f} °C  ambient {ambient} °C  raw {reading.raw.hex(' ')}"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"

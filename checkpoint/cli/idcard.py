"""`checkpoint idcard …`: field tools for the ID-card reader (decode a captured reply, watch a reader)."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from drivers import serial_capture
from drivers.base import DeviceHealth
from drivers.idcard.cards import ADDRESS_SIZE, guess_card, parse_address
from drivers.idcard.codec import FrameDecoder, PeerError, Reply, Status, StrayBytes
from drivers.idcard.reader import CardPresented

app = typer.Typer(no_args_is_help=True, help="ID-card reader (GA/T 467 serial protocol) field tools.")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _load(source: str) -> bytes:
    if source.startswith("@"):
        try:
            return Path(source[1:]).read_bytes()
        except OSError as exc:
            raise _fail(f"cannot read {source[1:]}: {exc.strerror}") from exc
    text = re.sub(r"[\s:,]|0x", "", source)
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise _fail("not hexadecimal: give bytes like 'AA AA AA 96 69 …' or @FILE for a binary") from exc


def describe(reply: Reply) -> dict[str, Any]:
    """A reply as the field tool prints it: the card for a card read, the status otherwise."""
    described: dict[str, Any] = {"sw3": f"{reply.sw3:02x}", "status": reply.meaning}
    card = guess_card(reply)
    if card is not None:
        described |= card.model_dump(mode="json")
        described |= {"photo_bytes": len(card.photo), "fingerprint_bytes": len(card.fingerprints)}
        return described
    described |= {"sw1": f"{reply.sw1:02x}", "sw2": f"{reply.sw2:02x}", "data": reply.data.hex()}
    if reply.sw3 == Status.OK and len(reply.data) == ADDRESS_SIZE:
        described["address"] = parse_address(reply.data)
    return described


@app.command()
def parse(
    frame: Annotated[str, typer.Argument(metavar="HEX|@FILE", help="a captured reply: hex or @binary-file")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (one object per frame)")] = False,
) -> None:
    """Decode a captured reply frame, or a capture made by `checkpoint doctor --capture`, and print what it holds."""
    if frame.startswith("@") and (capture := _capture(Path(frame[1:]))) is not None:
        _parse_capture(capture, as_json)
        return
    decoder = FrameDecoder(Reply)
    decoder.feed(_load(frame))
    replies: list[Reply] = []
    stray = 0
    for event in decoder.events():
        if isinstance(event, Reply):
            replies.append(event)
        elif isinstance(event, StrayBytes):
            stray += event.count
        else:
            raise _fail(event.reason)
    leftover = decoder.flush()
    if leftover is not None and not isinstance(leftover, StrayBytes):
        raise _fail(leftover.reason)
    if not replies:
        raise _fail("no frame found (a reply starts with AA AA AA 96 69)")
    if stray:
        typer.echo(f"note: skipped {stray} stray byte(s) outside the frame(s)", err=True)
    for reply in replies:
        try:
            described = describe(reply)
        except PeerError as exc:
            raise _fail(f"the frame is sound but its card data is not: {exc}") from exc
        if as_json:
            typer.echo(json.dumps(described, ensure_ascii=False))
        else:
            typer.echo("\n".join(f"{key}: {value}" for key, value in described.items()))


def _capture(path: Path) -> serial_capture.Capture | None:
    try:
        return serial_capture.load(path)
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from exc
    except serial_capture.CaptureFileError as exc:
        raise _fail(str(exc)) from exc


def _replay(chunks: list[serial_capture.Chunk]) -> serial_capture.Replayed[Reply]:
    decoder = FrameDecoder(Reply)

    def step(data: bytes) -> Iterator[Reply | tuple[str, bytes]]:
        decoder.feed(data)
        for event in decoder.events():
            yield event if isinstance(event, Reply) else (event.reason, data)

    def flush() -> tuple[str, int] | None:
        held = decoder.pending
        left = decoder.flush()
        return None if left is None else (left.reason, held)

    return serial_capture.replay(chunks, step, flush)


def _parse_capture(capture: serial_capture.Capture, as_json: bool) -> None:
    """Every speed recorded, decoded as reader replies: the speed that fits and its frames, or where
    decoding fails at each speed."""
    results = {baud: _replay(capture.received(baud)) for baud in capture.bauds()}
    fits = {baud: r for baud, r in results.items() if r.items}
    if not fits:
        lines = [f"no GA/T 467 reply in the capture of {capture.port} at any speed recorded:"]
        for baud, r in results.items():
            where = str(r.first_failure) if r.first_failure else "nothing received"
            lines.append(f"  {baud} baud: {r.received} bytes; {where}")
        raise _fail("\n".join(lines))
    for baud, r in fits.items():
        typer.echo(f"fits: ID-card reader (GA/T 467) at {baud} baud: {len(r.items)} frame(s), {r.errors} error(s)")
        if r.first_failure:
            typer.echo(f"  first error: {r.first_failure}")
        for t, reply in r.items:
            try:
                described = {"t": round(t, 3)} | describe(reply)
            except PeerError as exc:
                described = {"t": round(t, 3), "error": f"the frame is sound but its card data is not: {exc}"}
            if as_json:
                typer.echo(json.dumps(described | {"baud": baud}, ensure_ascii=False))
            else:
                typer.echo("  " + ", ".join(f"{k}: {v}" for k, v in described.items() if k not in ("photo",)))


def _line(event: BaseModel) -> str:
    stamp = time.strftime("%H:%M:%S")
    if isinstance(event, CardPresented):
        card = event.card
        end = card.valid_to.isoformat() if card.valid_to else "长期"
        flags = (" EXPIRED" if card.expired(date.today()) else "") + (
            "" if card.id_checksum_ok else " ID-CHECK-FAILED")
        return f"{stamp} card {card.type.value} {card.name or card.name_en} {card.id_masked} to {end}{flags}"
    if isinstance(event, DeviceHealth):
        return f"{stamp} health {event.state.value} {event.detail}"
    return f"{stamp} {event!r}"


@app.command()
def watch(
    port: Annotated[str, typer.Option("--port", help="the reader's serial port, e.g. /dev/idcard")],
    baud: Annotated[int, typer.Option(help="115200 by default; some readers use 9600")] = 115200,
    poll_interval: Annotated[float, typer.Option(help="seconds between polls")] = 0.25,
    count: Annotated[int, typer.Option(help="stop after this many cards (0: run until Ctrl-C)")] = 0,
    seconds: Annotated[float, typer.Option(help="stop after this long (0: run until Ctrl-C)")] = 0.0,
) -> None:
    """Print every card presented (ID masked) and every change in the reader's health."""
    from drivers.idcard.reader import IdCardConfig, IdCardReader  # pyserial only when watching

    reader = IdCardReader(IdCardConfig(port=port, baud=baud, poll_interval_s=poll_interval))
    events: queue.Queue[BaseModel] = queue.Queue(maxsize=64)
    stop = threading.Event()
    thread = threading.Thread(target=reader.run, args=(events.put, stop), name="idcard", daemon=True)
    thread.start()
    deadline = time.monotonic() + seconds if seconds > 0 else float("inf")
    cards = 0
    try:
        while time.monotonic() < deadline and not (count and cards >= count):
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                continue
            cards += isinstance(event, CardPresented)
            typer.echo(_line(event))
    except KeyboardInterrupt:
        typer.echo("stopped", err=True)
    finally:
        stop.set()
        while thread.is_alive():  # keep draining: the reader may be blocked handing over an event
            with contextlib.suppress(queue.Empty):
                events.get(timeout=0.1)

"""`checkpoint idcard …`: field tools for the ID-card reader (decode a captured reply, watch a reader)."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import threading
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from drivers.events import DeviceHealth
from drivers.idcard.codec import FrameDecoder, Reply, Status, StrayBytes
from drivers.idcard.errors import PeerError
from drivers.idcard.events import CardPresented
from drivers.idcard.replies import ADDRESS_SIZE, guess_card, parse_address

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
    """Decode a captured reply frame and print what it holds."""
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

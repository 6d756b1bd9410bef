"""A reader on a pseudo-terminal: speaks GA/T 467 to whatever opens its port, with faults on demand.

    with IdCardSimulator(tmp_path / "idcard") as sim:      # the port path is sim.path
        sim.present(synthetic_deck()[0])
        sim.inject(Fault.READ_FAILURE)                     # the next read answers 41
        ...
        sim.remove()

It behaves as the modules are documented to: find answers 9F while a card that has not been read is
on the reader and 80 otherwise (also while the card already read still lies there); select works
while a card is on the reader; read needs a select first. Assumed where documents are silent: select
and read work again on a card already read (the loop's retry after a garbled read relies on this).
Faults are one-shot and queued: each applies to the next reply it fits (`on` narrows it to one
command). `silent = True` makes the module stop answering until cleared; `unplug()`/`plug()` pull and
reconnect the cable.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from enum import StrEnum
from pathlib import Path

from drivers.idcard.cards import IdCard, card_read_data, encode_address
from drivers.idcard.codec import (
    BadChecksum,
    BadLength,
    Command,
    FrameDecoder,
    Request,
    Status,
    encode_reply,
)
from drivers.sim.pty import PtyPort

_READS = (Command.READ, Command.READ_WITH_FINGERPRINTS)
_OK_ONLY = (Command.RESET, Command.MODULE_STATUS, Command.SET_BAUD_115200, Command.SET_BAUD_57600,
            Command.SET_BAUD_38400, Command.SET_BAUD_19200, Command.SET_BAUD_9600)
STRAY = b"\x00\x13\x55\xfe"
MODULE_ID = bytes.fromhex("0501000020201123000000010000002a")  # invented, 16 bytes


class Fault(StrEnum):
    NO_CARD = "no_card"  # find answers 80 although an unread card is there
    READ_FAILURE = "read_failure"  # a read answers 41
    BAD_CHECKSUM = "bad_checksum"  # a reply's CHK is wrong
    SPLIT = "split"  # a reply arrives in small delayed pieces
    STRAY_BYTES = "stray_bytes"  # junk before a reply
    SILENT = "silent"  # a command gets no answer


_ONLY_ON = {Fault.NO_CARD: (Command.FIND,), Fault.READ_FAILURE: _READS}


class IdCardSimulator:
    def __init__(self, link: Path, *, chunk_delay_s: float = 0.01) -> None:
        self._port = PtyPort(link, self._on_data)
        self._decoder = FrameDecoder(Request)
        self._chunk_delay_s = chunk_delay_s
        self._lock = threading.Lock()
        self._card: IdCard | None = None
        self._read_done = False  # the card on the reader was read: find answers 80 until re-presented
        self._selected = False
        self._faults: list[tuple[Fault, Command | None]] = []
        self.silent = False
        self.commands: Counter[str] = Counter()  # requests received (answered or not), by command name
        self.reads_served = 0  # read replies with a card sent (corrupted ones included)

    @property
    def path(self) -> str:
        return self._port.path

    def open(self) -> IdCardSimulator:
        self._port.open()
        return self

    def close(self) -> None:
        self._port.close()

    def __enter__(self) -> IdCardSimulator:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def present(self, card: IdCard) -> None:
        with self._lock:
            self._card, self._read_done, self._selected = card, False, False

    def remove(self) -> None:
        with self._lock:
            self._card, self._read_done, self._selected = None, False, False

    def inject(self, fault: Fault, on: Command | None = None, times: int = 1) -> None:
        """Queue `fault` for the next `times` replies it fits (to `on` only, if given)."""
        allowed = _ONLY_ON.get(fault)
        if allowed and on is not None and on not in allowed:
            raise ValueError(f"{fault} can only apply to {[c.name for c in allowed]}")
        with self._lock:
            self._faults.extend([(fault, on)] * times)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def unplug(self) -> None:
        self._port.unplug()

    def plug(self) -> None:
        self._port.plug()

    def _on_data(self, data: bytes) -> None:
        self._decoder.feed(data)
        for event in self._decoder.events():
            if isinstance(event, Request):
                command = event.command
                self.commands[command.name if command else f"{event.cmd:02x}{event.para:02x}"] += 1
                with self._lock:
                    fault = self._take_fault(event.command)
                    reply = None if self.silent or fault is Fault.SILENT else self._answer(event, fault)
                if reply is not None:
                    self._send(reply, fault)
            elif isinstance(event, BadChecksum):
                self._send(encode_reply(Status.CHECKSUM_ERROR), None)
            elif isinstance(event, BadLength):
                self._send(encode_reply(Status.LENGTH_ERROR), None)

    def _take_fault(self, command: Command | None) -> Fault | None:
        for i, (fault, on) in enumerate(self._faults):
            fits = command in _ONLY_ON.get(fault, (command,)) and on in (None, command)
            if fits:
                del self._faults[i]
                return fault
        return None

    def _answer(self, request: Request, fault: Fault | None) -> bytes:
        command = request.command
        card = self._card
        if command is None:
            return encode_reply(Status.BAD_COMMAND)
        if command in _OK_ONLY:
            return encode_reply(Status.OK)
        if command is Command.MODULE_ID:
            return encode_reply(Status.OK, MODULE_ID)
        if command is Command.FIND:
            if card is None or self._read_done or fault is Fault.NO_CARD:
                return encode_reply(Status.FIND_FAILED)
            return encode_reply(Status.CARD_FOUND, bytes(4))
        if command is Command.SELECT:
            self._selected = card is not None
            return encode_reply(Status.OK, bytes(8)) if card else encode_reply(Status.SELECT_FAILED)
        if card is None or not self._selected:
            return encode_reply(Status.READ_FAILED)
        if command is Command.READ_NEWEST_ADDRESS:
            if card.newest_address is None:
                return encode_reply(Status.NO_CONTENT)
            return encode_reply(Status.OK, encode_address(card.newest_address))
        if fault is Fault.READ_FAILURE:
            return encode_reply(Status.READ_FAILED)
        self._read_done = True
        self.reads_served += 1
        return encode_reply(Status.OK, card_read_data(card, command is Command.READ_WITH_FINGERPRINTS))

    def _send(self, frame: bytes, fault: Fault | None) -> None:
        if fault is Fault.BAD_CHECKSUM:
            frame = frame[:-1] + bytes((frame[-1] ^ 0x5A,))
        elif fault is Fault.STRAY_BYTES:
            frame = STRAY + frame
        if fault is not Fault.SPLIT:
            self._port.write(frame)
            return
        step = max(1, len(frame) // 4)
        for start in range(0, len(frame), step):
            self._port.write(frame[start : start + step])
            time.sleep(self._chunk_delay_s)

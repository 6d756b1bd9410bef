"""The ID-card reader as a `Device`: open the port, check the module, then find → select → read.

Runs in its own thread (`run(emit, stop)`); serial I/O blocks only that thread. One `CardPresented` per
presentation: after a successful read the module answers *find* with 80 until the card is taken away
and put back, so a card left on the reader is not read twice, and an 80 is never taken to mean that
the card left. A read that fails (status, broken or missing reply) is retried with select → read
while the card is still on the reader. A pulled cable closes the port: the loop reports DISCONNECTED
and reopens it with backoff; a module that stops answering is reported DISCONNECTED too and is reset
when it answers again.

Here: what the driver reports (`CardPresented`; health as drivers.base.DeviceHealth, emitted only
on a change), the serial link (`ReaderLink`: send a command, wait for its reply frame; framing is
the codec's), and the device loop. Before each command the input is discarded, so a late answer to
an earlier command cannot be taken for this one's. A reply that arrives broken fails the exchange
at once; one that does not arrive fails it at the timeout. A pulled cable surfaces as `PortLost`
whichever way the OS reports it (pyserial lets `OSError` and `termios.error` through).
"""

from __future__ import annotations

import logging
import termios
import threading
import time
from datetime import UTC, datetime

import serial
from pydantic import BaseModel, ConfigDict, Field

from drivers.base import Backoff, Device, DeviceHealth, DeviceKind, Emit, HealthState
from drivers.idcard.cards import IdCard, card_from_read, parse_address
from drivers.idcard.codec import Command, FrameDecoder, PeerError, Reply, Status, StrayBytes, encode


class CardPresented(BaseModel):
    """A card was put on the reader and read: one event per presentation."""

    model_config = ConfigDict(frozen=True)

    card: IdCard
    device: str = ""  # the reader's configured name (its port by default)
    read_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class HealthReporter:
    """OK after a clean exchange; DEGRADED after `degraded_after` failures in a row (or at once when
    told); DISCONNECTED when told (port gone, module silent)."""

    def __init__(self, emit: Emit, name: str, degraded_after: int) -> None:
        self._emit = emit
        self._name = name
        self._degraded_after = degraded_after
        self._failures = 0
        self.state: HealthState | None = None

    def ok(self, detail: str = "") -> None:
        self._failures = 0
        self._set(HealthState.OK, detail)

    def failure(self, detail: str) -> None:
        self._failures += 1
        if self._failures >= self._degraded_after or self.state is HealthState.DISCONNECTED:
            self._set(HealthState.DEGRADED, detail)

    def degraded(self, detail: str) -> None:
        self._set(HealthState.DEGRADED, detail)

    def disconnected(self, detail: str) -> None:
        self._set(HealthState.DISCONNECTED, detail)

    def _set(self, state: HealthState, detail: str) -> None:
        if state is not self.state:
            self.state = state
            self._emit(DeviceHealth(kind=DeviceKind.IDCARD, name=self._name, state=state, detail=detail))


log = logging.getLogger(__name__)

_CHUNK_WAIT_S = 0.05  # one blocking read waits at most this long, so deadlines are kept


class LinkError(Exception):
    """The reader's answer was missing, broken or not what the command expects."""


class NoReply(LinkError):
    """No complete reply within the timeout."""


class PortLost(serial.SerialException):
    """The port failed under us (USB unplugged, device gone)."""


class UnexpectedStatus(LinkError):
    def __init__(self, command: Command, reply: Reply) -> None:
        super().__init__(f"{command.name}: reader answered {reply.sw3:02x} ({reply.meaning})")
        self.reply = reply


def open_port(path: str, baud: int) -> serial.Serial:
    """Open the reader's port: 8N1, exclusive, reads that wait at most a short chunk."""
    return serial.Serial(port=path, baudrate=baud, timeout=_CHUNK_WAIT_S, write_timeout=1.0,
                         exclusive=True)


def expect(command: Command, reply: Reply, *allowed: Status) -> Reply:
    if reply.sw3 not in allowed:
        raise UnexpectedStatus(command, reply)
    return reply


class ReaderLink:
    """Command/reply exchanges over an open port."""

    def __init__(self, port: serial.Serial) -> None:
        self._port = port
        self._decoder = FrameDecoder(Reply)
        self.stray_bytes = 0

    def exchange(self, command: Command, timeout: float) -> Reply:
        try:
            return self._exchange(command, timeout)
        except (OSError, termios.error) as exc:
            raise PortLost(f"{command.name}: {exc}") from exc

    def _exchange(self, command: Command, timeout: float) -> Reply:
        self._decoder.clear()
        self._port.reset_input_buffer()
        self._port.write(encode(command))
        deadline = time.monotonic() + timeout
        while True:
            for event in self._decoder.events():
                if isinstance(event, Reply):
                    return event
                if isinstance(event, StrayBytes):
                    self.stray_bytes += event.count
                    log.debug("stray bytes from the reader", extra={"count": event.count})
                    continue
                raise LinkError(f"{command.name}: {event.reason}")
            if time.monotonic() >= deadline:
                leftover = self._decoder.flush()
                detail = f" ({leftover.reason})" if leftover else ""
                raise NoReply(f"{command.name}: no reply within {timeout:g} s{detail}")
            self._decoder.feed(self._port.read(self._port.in_waiting or 1))


log = logging.getLogger(__name__)


class IdCardConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    port: str  # e.g. /dev/idcard (a udev name) or /dev/ttyUSB0
    baud: int = 115200  # some builds default to 9600
    poll_interval_s: float = Field(default=0.25, gt=0, le=10)
    reply_timeout_s: float = Field(default=0.5, gt=0)  # short commands (reset, status, find, select)
    read_timeout_s: float = Field(default=2.0, gt=0)  # the card read (1,295 bytes and the chip's time)
    read_attempts: int = Field(default=3, ge=1)
    fingerprints: bool = False  # read with 30 10 and keep the fingerprint bytes
    newest_address: bool = False  # also ask for the appended address (30 03) after each read
    silent_after: int = Field(default=3, ge=1)  # unanswered commands in a row → DISCONNECTED
    degraded_after: int = Field(default=3, ge=1)  # failed polls in a row → DEGRADED
    backoff_first_s: float = Field(default=0.2, gt=0)
    backoff_cap_s: float = Field(default=5.0, gt=0)
    name: str | None = None  # the name in health events and CardPresented; the port if None


class IdCardReader(Device):
    def __init__(self, config: IdCardConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name or self.config.port

    def run(self, emit: Emit, stop: threading.Event) -> None:
        cfg = self.config
        health = HealthReporter(emit, self.name, cfg.degraded_after)
        backoff = Backoff(cfg.backoff_first_s, cfg.backoff_cap_s)
        while not stop.is_set():
            try:
                with open_port(cfg.port, cfg.baud) as port:
                    self._serve(ReaderLink(port), emit, health, backoff, stop)
            except OSError as exc:  # serial.SerialException (cannot open, PortLost) or a failing close
                log.warning("idcard port lost", extra={"port": cfg.port, "error": str(exc)})
                health.disconnected(f"port {cfg.port}: {exc}")
            stop.wait(backoff.next_delay())

    def _serve(self, link: ReaderLink, emit: Emit, health: HealthReporter, backoff: Backoff,
               stop: threading.Event) -> None:
        cfg = self.config
        ready = False
        silent = 0
        while not stop.is_set():
            try:
                if not ready:
                    self._initialise(link, health)
                    ready = True
                    backoff.reset()
                self._poll(link, emit, health)
                silent = 0
            except NoReply as exc:
                silent += 1
                if silent >= cfg.silent_after:
                    health.disconnected(f"module does not answer: {exc}")
                    ready = False
                else:
                    health.failure(str(exc))
            except (LinkError, PeerError) as exc:
                silent = 0
                log.info("idcard poll failed", extra={"port": cfg.port, "error": str(exc)})
                health.failure(str(exc))
            stop.wait(cfg.poll_interval_s)

    def _initialise(self, link: ReaderLink, health: HealthReporter) -> None:
        link.exchange(Command.RESET, self.config.read_timeout_s)
        status = link.exchange(Command.MODULE_STATUS, self.config.reply_timeout_s)
        if status.sw3 == Status.OK:
            health.ok("module ready")
        else:
            health.degraded(f"module status {status.sw3:02x}: {status.meaning}")

    def _poll(self, link: ReaderLink, emit: Emit, health: HealthReporter) -> None:
        found = link.exchange(Command.FIND, self.config.reply_timeout_s)
        expect(Command.FIND, found, Status.CARD_FOUND, Status.FIND_FAILED)
        if found.sw3 == Status.CARD_FOUND:
            card = self._read(link)
            log.info("card read", extra={"id": card.id_masked, "card_type": card.type.value})
            emit(CardPresented(card=card, device=self.name))
        health.ok()

    def _read(self, link: ReaderLink) -> IdCard:
        for attempt in range(1, self.config.read_attempts):
            try:
                return self._read_once(link)
            except (LinkError, PeerError) as exc:
                log.info("card read retried", extra={"attempt": attempt, "error": str(exc)})
        return self._read_once(link)

    def _read_once(self, link: ReaderLink) -> IdCard:
        cfg = self.config
        command = Command.READ_WITH_FINGERPRINTS if cfg.fingerprints else Command.READ
        expect(Command.SELECT, link.exchange(Command.SELECT, cfg.reply_timeout_s), Status.OK)
        reply = expect(command, link.exchange(command, cfg.read_timeout_s), Status.OK)
        card = card_from_read(reply.data, cfg.fingerprints)
        return self._with_address(link, card) if cfg.newest_address else card

    def _with_address(self, link: ReaderLink, card: IdCard) -> IdCard:
        command = Command.READ_NEWEST_ADDRESS
        try:
            reply = expect(command, link.exchange(command, self.config.reply_timeout_s),
                           Status.OK, Status.NO_CONTENT)
            if reply.sw3 == Status.NO_CONTENT:
                return card
            return card.model_copy(update={"newest_address": parse_address(reply.data)})
        except (LinkError, PeerError) as exc:
            log.info("newest address not read", extra={"error": str(exc)})
            return card

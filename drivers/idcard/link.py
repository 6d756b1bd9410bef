"""One serial port to a reader: send a command, wait for its reply frame. Thin: framing is the codec's.

Before each command the input is discarded, so a late answer to an earlier command cannot be taken
for this one's. A reply that arrives broken fails the exchange at once; one that does not arrive fails
it at the timeout. A pulled cable surfaces as `PortLost` whichever way the OS reports it (pyserial lets
`OSError` and `termios.error` through from a vanished port).
"""

from __future__ import annotations

import logging
import termios
import time

import serial

from drivers.idcard.codec import Command, FrameDecoder, Reply, Status, StrayBytes, encode

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

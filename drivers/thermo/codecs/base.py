"""The one interface every thermometer codec implements, and the framing loop they share.

Theory of operation: a codec is sans-I/O. The transport asks it which bytes to send once after
opening the port (`start_request`, e.g. "stream continuously") and before each reading
(`poll_request`, None for devices that stream on their own), and hands it every received chunk with
the box's time (`feed`). `feed` returns what the chunk completed: `RawReading`s and `FrameError`s.

Each family only writes `_step` (or, for header-and-length frames, the hooks of
`framing.HeaderFramedCodec`): look at the buffer from a position and say how many bytes it used
and what they were — a reading, a rejected frame, a valid frame that carries no reading (an
acknowledgement), line noise to skip, or "need more bytes" (consumed 0). The shared loop builds the
events, folds consecutive noise into one error, and keeps only an incomplete frame buffered, so the
buffer is bounded by the family's largest frame.

Errors split by whose fault: `FrameError` is the device's (bad checksum, noise, a device exception);
it is returned, never raised, so one bad frame never stops a stream. `ConfigError` is ours (options
that cannot work) and is raised at construction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drivers.base import FrameError
from drivers.thermo.events import RawReading


@dataclass(frozen=True, slots=True)
class Garbled(FrameError):
    """Bytes from a thermometer that do not decode as its protocol."""

    protocol: str
    text: str
    bytes_: bytes

    @property
    def reason(self) -> str:
        return self.text

    @property
    def raw(self) -> bytes:
        return self.bytes_

    def __str__(self) -> str:
        return f"{self.protocol}: {self.text} ({self.bytes_.hex(' ')})"


@dataclass(frozen=True, slots=True)
class Decoded:
    object_c: float
    ambient_c: float | None


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str


class Ignored:
    """A well-formed frame that carries no reading (e.g. an acknowledgement)."""


class Garbage:
    """Bytes that cannot start a frame: skipped, reported together as one FrameError."""


Outcome = Decoded | Rejected | Ignored | Garbage
IGNORED, GARBAGE = Ignored(), Garbage()
NEED_MORE: tuple[int, Outcome] = (0, GARBAGE)
CodecEvent = RawReading | FrameError


class Codec(ABC):
    """Host side of one thermometer protocol family."""

    protocol: str  # the registry name

    def __init__(self, options: Any) -> None:
        self.options = options  # the family's options model; subclasses narrow the annotation
        self._buf = b""

    def start_request(self) -> bytes:
        """Bytes to send once after the port opens (and again after a silence)."""
        return b""

    @abstractmethod
    def poll_request(self) -> bytes | None:
        """The request for one reading, or None when the device streams on its own."""

    @abstractmethod
    def _step(self, buf: bytes, pos: int) -> tuple[int, Outcome]:
        """Parse `buf` from `pos` (< len): (bytes used, outcome); (0, _) means need more bytes."""

    def feed(self, data: bytes, at: datetime) -> list[CodecEvent]:
        """Take received bytes; return the readings and errors they completed, in order."""
        buf = self._buf + data
        events: list[CodecEvent] = []
        noise = bytearray()
        pos = 0
        while pos < len(buf):
            used, outcome = self._step(buf, pos)
            if used == 0:
                break
            frame, pos = buf[pos : pos + used], pos + used
            if isinstance(outcome, Garbage):
                noise += frame
                continue
            if noise:
                events.append(Garbled(self.protocol, "line noise skipped", bytes(noise)))
                noise.clear()
            if isinstance(outcome, Decoded):
                events.append(RawReading(object_c=outcome.object_c, ambient_c=outcome.ambient_c,
                                         raw=frame, protocol=self.protocol, received_at=at))
            elif isinstance(outcome, Rejected):
                events.append(Garbled(self.protocol, outcome.reason, frame))
        if noise:
            events.append(Garbled(self.protocol, "line noise skipped", bytes(noise)))
        self._buf = buf[pos:]
        return events

    @property
    def pending(self) -> int:
        """Bytes held back as the start of an incomplete frame."""
        return len(self._buf)

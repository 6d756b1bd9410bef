"""A serial capture: what crossed a line, in both directions, with timestamps and the speed it was
read at. Made in the field by `checkpoint doctor --capture`, decoded by `checkpoint idcard parse @FILE`
and `checkpoint thermo parse --protocol auto @FILE`, and sent back to the team for a device nobody
here has seen.

The file is text, one JSON object per line, so it survives e-mail and can be read by eye: a header
`{"format": "checkpoint-capture/1", "port": …, "started": …}`, then one line per chunk as it was read
or written: `{"t": seconds since the start, "dir": "rx"|"tx", "baud": 9600, "hex": "aa 55 …"}`.
`replay` feeds the received bytes of one speed to a decoder chunk by chunk, as a serial read would,
and says where the first thing that did not decode was (byte offset, time, reason, the bytes).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

FORMAT = "checkpoint-capture/1"
T = TypeVar("T")


class CaptureFileError(ValueError):
    """A file that says it is a capture but cannot be read as one."""


class Chunk(BaseModel):
    model_config = ConfigDict(frozen=True)

    t: float  # seconds since the capture started
    dir: Literal["rx", "tx"]  # rx: from the device; tx: what we sent it
    baud: int
    data: bytes


class Capture(BaseModel):
    port: str
    started: datetime
    chunks: list[Chunk] = []

    def bauds(self) -> list[int]:
        """The speeds recorded at, in the order they were tried."""
        return list(dict.fromkeys(c.baud for c in self.chunks))

    def received(self, baud: int) -> list[Chunk]:
        return [c for c in self.chunks if c.dir == "rx" and c.baud == baud]

    def dump(self, path: Path) -> None:
        lines = [json.dumps({"format": FORMAT, "port": self.port, "started": self.started.isoformat()})]
        lines += [
            json.dumps({"t": round(c.t, 6), "dir": c.dir, "baud": c.baud, "hex": c.data.hex(" ")}) for c in self.chunks
        ]
        path.write_text("\n".join(lines) + "\n")


def load(path: Path) -> Capture | None:
    """The capture in `path`; None when the file is not a capture (raw bytes, say)."""
    raw = path.read_bytes()
    if not raw.startswith(b'{"format": "checkpoint-capture/'):
        return None
    number = 1
    try:
        lines = raw.decode().splitlines()
        head = json.loads(lines[0])
        if head["format"] != FORMAT:
            raise CaptureFileError(f"{path}: {head['format']} is not a format this version reads ({FORMAT})")
        chunks = []
        for number, line in enumerate(lines[1:], start=2):  # noqa: B007 - the line number is in the error
            if line.strip():
                item = json.loads(line)
                data = bytes.fromhex(item.pop("hex"))
                chunks.append(Chunk.model_validate(item | {"data": data}))
        return Capture(port=head["port"], started=head["started"], chunks=chunks)
    except CaptureFileError:
        raise
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise CaptureFileError(f"{path}: not a readable capture (line {number}): {exc}") from None


@dataclass(frozen=True)
class Failure:
    """The first thing in a stream that did not decode."""

    offset: int  # bytes received at this speed before the chunk it was found in
    t: float
    reason: str
    data: bytes

    def __str__(self) -> str:
        shown = self.data[:24].hex(" ") + (" …" if len(self.data) > 24 else "")
        return f"fails at byte {self.offset} (t={self.t:.3f} s): {self.reason}" + (f" [{shown}]" if shown else "")


@dataclass
class Replayed(Generic[T]):
    items: list[tuple[float, T]]  # what decoded, with the time its last chunk arrived
    errors: int
    first_failure: Failure | None
    received: int  # bytes


Step = Callable[[bytes], Iterable[T | tuple[str, bytes]]]
"""A decoder fed one chunk: yields what it decoded, or (reason, bytes) for what it threw away."""


def replay(chunks: list[Chunk], step: Step[T], flush: Callable[[], tuple[str, int] | None]) -> Replayed[T]:
    """`flush` gives up on what the decoder holds at the end: (reason, how many bytes) or None. The
    failure shows the bytes received from the start of the chunk it was found in."""
    items: list[tuple[float, T]] = []
    errors, first, stream, t = 0, None, b"", 0.0
    for chunk in chunks:
        for out in step(chunk.data):
            if isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], str):
                errors += 1
                first = first or (len(stream), chunk.t, out[0])
            else:
                items.append((chunk.t, out))  # type: ignore[arg-type]
        stream, t = stream + chunk.data, chunk.t
    if (left := flush()) is not None:
        errors += 1
        first = first or (len(stream) - left[1], t, left[0])
    failure = None if first is None else Failure(first[0], first[1], first[2], stream[first[0] : first[0] + 32])
    return Replayed(items, errors, failure, len(stream))

"""Modules that print readings as text lines ("T:36.5\r\n" style), with a configurable pattern.

Theory of operation: the stream is cut at each `\n` (a trailing `\r` is dropped, blank lines are
ignored) and each line is searched with the configured regular expression, whose named group
`object` holds the object temperature in °C and optional group `ambient` the ambient. A line that does
not match, is not ASCII, or does not hold a finite number is rejected; a line longer than `max_line`
without a newline is rejected whole, which bounds the buffer. Most such modules stream on their own;
set `request` for one that wants a text command per reading.

Written from docs/protocols.md §2.4 (the "T:36.5\r\n" family; vendors differ in prefix, separator and
whether ambient follows), hence the pattern is an option rather than a format.
"""

from __future__ import annotations

import math
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from drivers.thermo.codecs.base import IGNORED, NEED_MORE, Codec, Decoded, Outcome, Rejected

DEFAULT_PATTERN = r"T\s*[:=]\s*(?P<object>[-+]?\d+(?:\.\d+)?)(?:.*?A\s*[:=]\s*(?P<ambient>[-+]?\d+(?:\.\d+)?))?"


class AsciiOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: str = DEFAULT_PATTERN  # regex with group `object` (and optionally `ambient`), in °C
    request: str | None = None  # text to send for each reading, e.g. "READ\r\n"; None: it streams
    max_line: int = Field(default=128, ge=8, le=4096)

    @field_validator("pattern")
    @classmethod
    def _has_object_group(cls, pattern: str) -> str:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        if "object" not in compiled.groupindex:
            raise ValueError("the pattern needs a named group (?P<object>...)")
        return pattern


def encode_reading(object_c: float, ambient_c: float | None, line_format: str = "T:{object:.2f}\r\n") -> bytes:
    """A device's line (device side; for the simulator and tests)."""
    return line_format.format(object=object_c, ambient=ambient_c).encode("ascii")


class AsciiLineCodec(Codec):
    protocol = "ascii"
    options: AsciiOptions

    def __init__(self, options: AsciiOptions) -> None:
        super().__init__(options)
        self._pattern = re.compile(options.pattern)

    def poll_request(self) -> bytes | None:
        return self.options.request.encode("ascii") if self.options.request else None

    def _step(self, buf: bytes, pos: int) -> tuple[int, Outcome]:
        end = buf.find(b"\n", pos, pos + self.options.max_line)
        if end < 0:
            if len(buf) - pos >= self.options.max_line:
                return self.options.max_line, Rejected("line too long")
            return NEED_MORE
        used = end + 1 - pos
        text = buf[pos:end].rstrip(b"\r")
        if not text.strip():
            return used, IGNORED
        if not text.isascii():
            return used, Rejected("not ASCII")
        match = self._pattern.search(text.decode("ascii"))
        if match is None:
            return used, Rejected("line does not match the pattern")
        object_c, ambient_text = _number(match["object"]), match.groupdict().get("ambient")
        ambient_c = None if ambient_text is None else _number(ambient_text)
        if object_c is None or (ambient_text is not None and ambient_c is None):
            return used, Rejected("not a finite number")
        return used, Decoded(object_c=object_c, ambient_c=ambient_c)


def _number(text: str | None) -> float | None:
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if math.isfinite(value) else None

"""The frame hunt shared by families whose frames start with a fixed header and give their length.

Theory of operation: at the current position we expect the header; otherwise everything up to the
next header is line noise (a tail that could start one is kept for the next chunk). With the header
and the length field in hand the family says how long the frame is (or that the length is absurd:
then the header was noise). A whole frame that fails its checksum is *rejected whole* if it has the
shape of a reading (a real frame damaged on the line); any other damaged candidate is noise, and the
hunt resumes one byte further, so a false header cannot swallow the real frame after it. Intact frames
that carry no reading (acknowledgements) are ignored.
"""

from __future__ import annotations

from abc import abstractmethod

from drivers.thermo.codecs.base import GARBAGE, IGNORED, NEED_MORE, Codec, Decoded, Outcome, Rejected

PREFIX = 4  # header (2 bytes) + the two bytes that say what and how long


class HeaderFramedCodec(Codec):
    header: bytes  # two bytes
    mismatch: str  # the reason given for a damaged reading frame

    @abstractmethod
    def _size(self, prefix: bytes) -> int | None:
        """The whole frame's length from its first four bytes, or None if that length is absurd."""

    @abstractmethod
    def _is_reading(self, frame: bytes) -> bool:
        """Whether the frame has the shape (type and length) of a reading."""

    @abstractmethod
    def _intact(self, frame: bytes) -> bool:
        """Checksum (and tail) check."""

    @abstractmethod
    def _decode(self, frame: bytes) -> Decoded:
        """The reading in an intact reading frame."""

    def _step(self, buf: bytes, pos: int) -> tuple[int, Outcome]:
        if not buf.startswith(self.header[: len(buf) - pos], pos):
            return self._skip_noise(buf, pos)
        if len(buf) - pos < PREFIX:
            return NEED_MORE
        size = self._size(buf[pos : pos + PREFIX])
        if size is None:
            return 1, GARBAGE
        if len(buf) - pos < size:
            return NEED_MORE
        frame = buf[pos : pos + size]
        reading = self._is_reading(frame)
        if not self._intact(frame):
            return (size, Rejected(self.mismatch)) if reading else (1, GARBAGE)
        return (size, self._decode(frame)) if reading else (size, IGNORED)

    def _skip_noise(self, buf: bytes, pos: int) -> tuple[int, Outcome]:
        found = buf.find(self.header, pos + 1)
        if found >= 0:
            return found - pos, GARBAGE
        keep = 1 if buf.endswith(self.header[:1]) else 0
        return len(buf) - pos - keep, GARBAGE


def int16(frame: bytes, at: int) -> int:
    """The signed 16-bit big-endian number at `at`."""
    return int.from_bytes(frame[at : at + 2], "big", signed=True)


def int16_bytes(celsius: float, counts_per_degree: int) -> bytes:
    """`celsius` as a signed 16-bit big-endian count (device side)."""
    return round(celsius * counts_per_degree).to_bytes(2, "big", signed=True)

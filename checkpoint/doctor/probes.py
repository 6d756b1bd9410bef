"""What `doctor` asks each device protocol, and how it recognises the answer. No I/O here.

A probe is a request (possibly empty: some thermometers print readings on their own) and a fresh
recogniser fed with whatever comes back; the recogniser says yes only for a frame that decodes with
its checksum right (the ID-card reader's reply to "module status", a thermometer's reading), so line
noise or another protocol's frames never identify a device. The decoders are the drivers' own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from drivers.idcard import codec as idcard
from drivers.thermo.codecs import FAMILIES, Family
from drivers.thermo.events import RawReading

IDCARD = "idcard"
THERMO = "thermo"

Recogniser = Callable[[bytes], str | None]  # fed each chunk; returns what it recognised, or None


@dataclass(frozen=True)
class Probe:
    device: str  # IDCARD or THERMO
    protocol: str  # "gat467" or a thermometer family name
    baud: int
    request: bytes
    listen_s: float  # how long an answer may take (streaming devices: one print interval and more)
    recogniser: Callable[[], Recogniser]

    @property
    def label(self) -> str:
        return "ID-card reader (GA/T 467)" if self.device == IDCARD else f"thermometer ({self.protocol})"


def _idcard_recogniser() -> Recogniser:
    decoder = idcard.FrameDecoder(idcard.Reply)

    def feed(data: bytes) -> str | None:
        decoder.feed(data)
        for event in decoder.events():
            if isinstance(event, idcard.Reply):
                return f"module status: {event.meaning}"
        return None

    return feed


def _thermo_recogniser(family: Family) -> Callable[[], Recogniser]:
    def make() -> Recogniser:
        codec = family.make()

        def feed(data: bytes) -> str | None:
            for event in codec.feed(data, datetime.now(UTC)):
                if isinstance(event, RawReading):
                    return f"reading {event.object_c:.2f} °C"
            return None

        return feed

    return make


def _thermo_probe(family: Family) -> Probe:
    codec = family.make()
    poll = codec.poll_request()
    return Probe(
        THERMO,
        family.name,
        family.default_baud,
        codec.start_request() + (poll or b""),
        0.4 if poll else 1.2,
        _thermo_recogniser(family),
    )


def all_probes() -> list[Probe]:
    """The ID-card reader first (at its usual speeds), then every thermometer family."""
    status = idcard.encode(idcard.Command.MODULE_STATUS)
    readers = [Probe(IDCARD, "gat467", baud, status, 0.4, _idcard_recogniser) for baud in (115200, 9600)]
    return readers + [_thermo_probe(family) for family in FAMILIES.values()]

"""A traveller's inputs as the agent's drivers report them (a card, a signed green health code, a
forehead at 36.6 °C), and the passages the latency measurements of bench_agent.py are made of."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.healthcode import keys, signed_format
from agent.healthcode.chain import HealthCodeSettings
from bench.agent_rig import until
from contract.messages import CodeColour
from drivers.camera.events import CodeScanned
from drivers.idcard.deck import synthetic_deck
from drivers.idcard.reader import CardPresented
from drivers.thermo.events import RawReading, TemperatureMeasured
from drivers.thermo.measure import Measurer, MeasureSettings


class Issuer:
    """A health-code issuer of the bench's own: the box trusts its key, it signs green codes."""

    name = "bench-issuer"

    def __init__(self) -> None:
        self._key = keys.generate_key()
        self.settings = HealthCodeSettings(issuer_keys={self.name: [keys.public_key_text(self._key)]})

    def text(self, n: int) -> str:
        """Traveller `n`'s signed green code, valid for a day."""
        now = datetime.now(UTC)
        claims = signed_format.Claims(
            iss=self.name,
            sub=f"{n:016x}",
            col="green",
            iat=int(now.timestamp()) - 60,
            exp=int((now + timedelta(hours=24)).timestamp()),
        )
        return signed_format.encode(claims, self._key)

    def code(self, n: int) -> CodeScanned:
        """That code as the camera driver reports it."""
        return CodeScanned(
            camera="bench-camera",
            text=self.text(n),
            colour=CodeColour.GREEN,
            colour_confidence=0.9,
            decoder="zxing",
            ms=5.0,
            corners=((0, 0), (100, 0), (100, 100), (0, 100)),
            frame_width=1280,
            frame_height=720,
            at=datetime.now(UTC),
        )


ISSUER = Issuer()


def temperature() -> TemperatureMeasured:
    """A forehead at 36.6 °C as the thermometer driver's measurement layer reports it."""
    measurer = Measurer(MeasureSettings(offset_c=0.5))
    now = datetime.now(UTC)
    event = None
    for object_c in (30.0, 36.1, 36.1, 36.1, 36.1):  # the empty scene, then a burst of four readings
        event = measurer.add(RawReading(object_c=object_c, ambient_c=25.0, raw=b"", protocol="gy-mcu", received_at=now))
    assert event is not None and event.body_c == 36.6
    return event


def cards() -> list[CardPresented]:
    today = datetime.now(UTC).date()
    return [CardPresented(card=c) for c in synthetic_deck() if not c.expired(today)]


def passages(
    submit: Callable[[Any], None], shown: Callable[[], int], n: int, after: Callable[[int], object], gap: float
) -> list[float]:
    """Card, code, then (once those are handled) the temperature; the submit times of the last inputs.
    `after(i)` runs once passage i's verdict is shown, then `gap` s pass before the next traveller."""
    deck = cards()
    started: list[float] = []
    for i in range(n):
        submit(deck[i % len(deck)])
        submit(ISSUER.code(i))
        time.sleep(0.01)  # the staff's screen fills in before the forehead is measured
        before = shown()
        last = temperature()
        started.append(time.perf_counter())
        submit(last)
        if not until(lambda before=before: shown() > before, 5.0):  # type: ignore[misc]
            raise RuntimeError(f"passage {i} produced no verdict")
        after(i)
        time.sleep(gap)
    return started

"""A simulated station without devices: travellers turned straight into complete passages.

For load and fault runs, where the point is the flow station -> outbox -> broker -> central, not
the drivers (`agent.simulated_station` drives the real device simulators instead). The passages go
through the same station, recorder and kiosk as real ones.
"""

from __future__ import annotations

import logging
import random
import threading

from agent.commands import RecordPassage
from agent.policy import CodeFacts, PassageFacts, PersonFacts, Policy, TempReading
from agent.station import Station, StationFull
from agent.travellers import Traveller, TravellerMix
from contract.messages import ColourSource, IdSource, TravelInput

log = logging.getLogger(__name__)


def facts_of(traveller: Traveller, policy: Policy, sensor: str = "simulated") -> PassageFacts:
    """The facts a station would gather, re-measuring as long as the policy asks."""
    temps: list[TempReading] = []
    for value in traveller.temps_c:
        reading = TempReading(body_c=value, object_c=round(value - 0.4, 2), offset_c=0.4, sensor=sensor)
        temps.append(reading)
        if not policy.needs_remeasure(tuple(temps)):
            break
    return PassageFacts(
        person=PersonFacts(
            source=IdSource.CARD if traveller.has_card else IdSource.TYPED,
            id_number=traveller.id_number,
            name=traveller.name,
            card_type="resident",
            card_expired=traveller.card_expired,
        ),
        code=CodeFacts(colour=traveller.colour, source=ColourSource.SIGNED_PAYLOAD, issuer="demo-issuer")
        if traveller.shows_code
        else None,
        temps=tuple(temps),
        travel=TravelInput(plate=traveller.plate, origin=traveller.origin, destination=traveller.destination),
    )


def run(station: Station, stop: threading.Event, per_minute: float, seed: int | None) -> None:
    """Hand the station complete passages at about `per_minute` (exponential gaps) until `stop` is set."""
    mix = TravellerMix(seed)
    gaps = random.Random(seed)
    while not stop.wait(gaps.expovariate(per_minute / 60.0)):
        facts = facts_of(mix.next(), station.recorder.policy())
        try:
            station.submit(RecordPassage(facts=facts))
        except StationFull:
            log.warning("station busy; the simulated traveller waits")

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
from agent.config import SimulationSettings
from agent.policy import CodeFacts, PassageFacts, PersonFacts, Policy, TempReading
from agent.station import Station, StationFull
from agent.travellers import Traveller, take_arrivals
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
        travel=TravelInput(plate=traveller.plate, origin=traveller.origin, destination=traveller.destination,
                           destination_code=traveller.destination_code),
    )


def run(station: Station, stop: threading.Event, sim: SimulationSettings) -> None:
    """Hand the station complete passages at about `sim.passages_per_minute` (exponential gaps) until
    `stop` is set; at a box of arrivals, the passages of those who arrive."""
    if sim.arrivals_dir is not None:
        while not stop.wait(1.0):
            for traveller in take_arrivals(sim.arrivals_dir):
                _submit(station, traveller)
        return
    mix = sim.travellers.mix(sim.seed)
    gaps = random.Random(sim.seed)
    while not stop.wait(gaps.expovariate(sim.passages_per_minute / 60.0)):
        _submit(station, mix.next())


def _submit(station: Station, traveller: Traveller) -> None:
    try:
        station.submit(RecordPassage(facts=facts_of(traveller, station.recorder.policy())))
    except StationFull:
        log.warning("station busy; the simulated traveller waits")

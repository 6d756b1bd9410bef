"""A simulated station: synthetic travellers play the three device simulators, the real drivers read them.

The ID-card reader and the thermometer are simulators speaking their real protocols on
pseudo-terminals; the camera sees rendered frames of a phone showing a signed health code. The
script does what a traveller and the staff do: the vehicle is registered, the card goes on the
reader (or staff type the number when there is no card), the phone is held up, the forehead is
measured — again when the kiosk asks — and everyone steps away before the next traveller.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from agent.commands import ManualId, SetVehicle
from agent.config import AgentSettings
from agent.healthcode import keys, signed_format
from agent.healthcode.chain import HealthCodeSettings
from agent.station import Station, StationFull
from agent.travellers import Traveller, take_arrivals
from contract import idnumber
from contract.messages import CheckpointKind, CodeColour, TravelInput
from drivers.base import Device
from drivers.camera.capture import CameraConfig
from drivers.camera.scene import PhoneScene
from drivers.idcard.cards import CardType, IdCard
from drivers.idcard.reader import IdCardConfig
from drivers.idcard.simulator import IdCardSimulator
from drivers.thermo.device import ThermoConfig
from drivers.thermo.simulator import ThermoSimulator

log = logging.getLogger(__name__)

ISSUER = "demo-issuer"
STEP_AWAY_S = 1.5  # nobody in front of the thermometer: long enough for it to see the empty scene


def _asks_remeasure(station: Station, readings: int) -> bool:
    passage = station.state.passage
    return passage is not None and passage.remeasure and len(passage.temps) >= readings


def card_of(traveller: Traveller, today: date) -> IdCard:
    """The traveller's resident card; an expired one ended a year ago."""
    number = traveller.id_number
    birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    valid_to = today - timedelta(days=365) if traveller.card_expired else today + timedelta(days=3650)
    return IdCard(
        type=CardType.RESIDENT,
        name=traveller.name,
        sex="1" if int(number[16]) % 2 else "2",
        nation="01",
        birth=birth,
        address="示例省示例市示例路1号",
        id_number=number,
        issuer="示例市公安局",
        valid_from=valid_to - timedelta(days=3650 * 2),
        valid_to=valid_to,
    )


class SimulatedStation:
    def __init__(self, settings: AgentSettings) -> None:
        sim = settings.simulation
        self._workdir = Path(sim.workdir)
        self._protocol = sim.thermometer
        self._per_minute = sim.passages_per_minute
        self._seed = sim.seed
        self._travellers = sim.travellers
        self._arrivals = sim.arrivals_dir
        self._issuer_key = keys.generate_key()
        self.scene = PhoneScene()
        self.reader = IdCardSimulator(self._workdir / "idcard")
        self.thermometer = ThermoSimulator(self._protocol, self._workdir / "thermo", seed=sim.seed or 0)

    def __enter__(self) -> SimulatedStation:
        self._workdir.mkdir(parents=True, exist_ok=True)
        self.reader.open()
        self.thermometer.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thermometer.__exit__()
        self.reader.close()

    def wire(self, settings: AgentSettings) -> AgentSettings:
        """The box's settings with its devices pointing at the simulators."""
        healthcode = HealthCodeSettings(issuer_keys={ISSUER: [keys.public_key_text(self._issuer_key)]})
        return settings.model_copy(
            update={
                "idcard": IdCardConfig(port=self.reader.path, name="idcard-sim"),
                "thermo": ThermoConfig(
                    protocol=self._protocol,
                    port=str(self.thermometer.link),
                    name="thermo-sim",
                    offset_c=self.thermometer.scene.forehead_gap_c,  # as `checkpoint thermo calibrate` would set
                ),
                "camera": self._camera(settings.camera),
                "healthcode": healthcode,
            }
        )

    @staticmethod
    def _camera(configured: CameraConfig | None) -> CameraConfig:
        """The simulated scene, at the box's configured camera size (640×480 at 8 fps if none)."""
        if configured is None:
            return CameraConfig(source="sim:", width=640, height=480, fps=8)
        return configured.model_copy(update={"source": "sim:"})

    def devices(self, wired: AgentSettings) -> list[Device]:
        devices = wired.model_copy(update={"camera": None}).devices()
        from drivers.camera.device import Camera

        assert wired.camera is not None
        return [*devices, Camera(wired.camera, scene=self.scene)]

    def run(self, station: Station, stop: threading.Event) -> None:
        """Travellers, one after another, until `stop`; at a box of arrivals, those who arrive."""
        if self._arrivals is not None:
            while not stop.wait(1.0):
                for traveller in take_arrivals(self._arrivals):
                    self._pass_through(traveller, station, stop, card=True)
            return
        mix = self._travellers.mix(self._seed)
        rng = random.Random(self._seed)
        occupants = 0
        while not stop.wait(STEP_AWAY_S + rng.expovariate(self._per_minute / 60.0)):
            traveller = mix.next()
            try:
                if station.machine.kind is CheckpointKind.TRAFFIC and occupants == 0:
                    occupants = rng.choice((1, 1, 2, 3))
                    vehicle = TravelInput(plate=traveller.plate, origin=traveller.origin,
                                          destination=traveller.destination,
                                          destination_code=traveller.destination_code)
                    station.submit(SetVehicle(vehicle=vehicle))
                occupants = max(occupants - 1, 0)
                self._pass_through(traveller, station, stop)
            except StationFull:
                log.warning("station busy; the simulated traveller waits")

    def _pass_through(self, traveller: Traveller, station: Station, stop: threading.Event, card: bool = False) -> None:
        """`card`: the ID card is read at a community box too (a hotel checks in its guests by their card)."""
        shown = station.shown
        if station.machine.kind is CheckpointKind.TRAFFIC or card:
            if traveller.has_card:
                self.reader.present(card_of(traveller, date.today()))
            else:  # the reader cannot read it: staff type the number
                station.submit(ManualId(id_number=traveller.id_number, name=traveller.name))
        if traveller.shows_code:
            self.scene.show(self._payload(traveller), traveller.colour)
        for n, body_c in enumerate(traveller.temps_c, start=1):
            self.thermometer.subject(body_c)
            self._wait(lambda n=n: station.shown > shown or _asks_remeasure(station, n), stop, 8)
            self.thermometer.nobody()
            if station.shown > shown:
                break
            stop.wait(STEP_AWAY_S)  # steps back, and forward again for the re-measure
        self._wait(lambda: station.shown > shown, stop, station.machine.timeout_s + 5)
        self.reader.remove()
        self.scene.clear()
        self.thermometer.nobody()

    def _payload(self, traveller: Traveller) -> str:
        now = datetime.now(UTC)
        colour = traveller.colour if traveller.colour is not CodeColour.UNKNOWN else CodeColour.GREY
        claims = signed_format.Claims(
            iss=ISSUER,
            sub=idnumber.pseudonym(ISSUER.encode(), traveller.id_number)[:16],
            col=colour.value,  # type: ignore[arg-type]
            iat=int(now.timestamp()) - 3600,
            exp=int((now + timedelta(hours=24)).timestamp()),
        )
        return signed_format.encode(claims, self._issuer_key)

    @staticmethod
    def _wait(predicate: object, stop: threading.Event, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not stop.is_set():
            if predicate():  # type: ignore[operator]
                return True
            stop.wait(0.05)
        return False

"""The station: one thread that owns the passage in progress and turns it into verdicts.

Everything that happens at the station — driver events from the device threads, staff commands
from the kiosk, complete passages from a simulated station — arrives in one bounded queue and is
handled here in order, so the passage machine needs no locks. A closed passage is decided, signed
and committed by the recorder; only then is the verdict shown (kiosk state, gate). If the commit
fails (a full disk) the kiosk says that nothing was recorded, and the gate stays shut.

The recorder (below, first) is where a passage becomes a verdict: decide, sign, commit to the outbox —
before anyone sees it. `Recorder.record` returns only after the verdict is durably committed; if the
commit fails it raises, and the station shows the staff that nothing was recorded, never a verdict.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from agent.commands import ManualId, Override, RecordPassage, Remeasure, SetVehicle
from agent.healthcode.status import CodeStatus
from agent.kiosk.state import KioskState, LinkView, passage_view, verdict_view
from agent.outbox import Outbox, OutboxError
from agent.passage import (
    BoxIdentity,
    PassageMachine,
    build,
    code_from_status,
    person_from_card,
    reading_from_measurement,
)
from agent.policy import PassageFacts, PersonFacts, Policy, decide
from contract import idnumber, signing, topics
from contract.messages import CodeColour, Decision, IdSource, Registration, RegistrationsPush, Verdict
from contract.messages import Override as OverrideRecord
from drivers.base import DeviceHealth
from drivers.idcard.reader import CardPresented
from drivers.thermo.events import TemperatureMeasured


class Registrations:
    """The pre-registrations (报备) in force, looked up by pseudonym."""

    def __init__(self, push: RegistrationsPush | None = None) -> None:
        self._push = push
        self._people = push.people() if push else {}
        self.version = push.version if push else ""

    def find(self, pseudonym: str | None, today: date) -> Registration | None:
        """The person's registration, if it counts today."""
        found = self._people.get(pseudonym) if pseudonym else None
        return found if found is not None and self._push is not None and self._push.counts(found, today) else None


class Lists:
    """The watch-list, risk areas and pre-registrations in force, replaced whole when central pushes new ones."""

    def __init__(self) -> None:
        self.watchlist: frozenset[str] = frozenset()
        self.watchlist_version = ""
        self.risk_areas: frozenset[str] = frozenset()
        self.risk_areas_version = ""
        self.registrations = Registrations()


class Recorder:
    def __init__(
        self,
        box: BoxIdentity,
        signing_key: bytes,
        outbox: Outbox,
        policy: Callable[[], Policy],
        lists: Lists,
        *,
        home_province: str | None = None,
        clock_synced: Callable[[], bool] = lambda: True,
        committed: Callable[[], None] = lambda: None,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.box = box
        self._key = signing_key
        self._outbox = outbox
        self.policy = policy
        self._lists = lists
        self._home_province = home_province
        self._clock_synced = clock_synced
        self._committed = committed
        self._today = today  # the box's own day, for whether a pre-registration counts
        self._lock = threading.Lock()  # one writer: sequence numbers are assigned in order
        self.counts: Counter[str] = Counter()

    def record(
        self, facts: PassageFacts, override: OverrideRecord | None = None, supersedes: UUID | None = None
    ) -> Verdict:
        """Decide, sign and commit; with `override`, staff's decision replaces the policy's (a new verdict
        that `supersedes` the one shown)."""
        policy = self.policy()
        pseudonym = self.box.pseudonym(facts)
        registration = self._lists.registrations.find(pseudonym, self._today())
        if registration is not None:
            facts = facts.model_copy(update={"registration": registration})
        outcome = decide(
            policy,
            self.box.kind,
            facts,
            pseudonym=pseudonym,
            watchlist=self._lists.watchlist,
            risk_areas=self._lists.risk_areas,
            home_province=self._home_province,
        )
        with self._lock:
            verdict = build(
                self.box,
                facts,
                outcome,
                epoch=self._outbox.epoch,
                seq=self._outbox.next_seq(),
                boot=self._outbox.boot,
                policy_version=policy.version,
                now=datetime.now(UTC),
                clock_synced=self._clock_synced(),
                override=override,
                supersedes=supersedes,
            )
            payload = signing.sign(self._key, verdict)
            topic = topics.uplink(self.box.site, self.box.device, "verdict")
            self._outbox.append(verdict.seq, str(verdict.id), verdict.flagged, topic, payload)
        self.counts[verdict.decision.value] += 1
        self._committed()
        return verdict


log = logging.getLogger(__name__)

VerifyCode = Callable[[str, CodeColour], CodeStatus]


class StationFull(Exception):
    """The station's queue is full: the caller should say so rather than wait forever."""


class Station:
    def __init__(
        self,
        recorder: Recorder,
        machine: PassageMachine,
        verify_code: VerifyCode,
        link_view: Callable[[], LinkView],
        *,
        on_state: Callable[[KioskState], None] = lambda _s: None,
        on_verdict: Callable[[Verdict], None] = lambda _v: None,
        queue_size: int = 1000,
        today: Callable[[], date] = date.today,
        clock: Callable[[], float] = time.monotonic,
        voice: bool = True,
    ) -> None:
        self.recorder = recorder
        self.machine = machine
        self._verify = verify_code
        self._link_view = link_view
        self._on_state = on_state
        self._on_verdict = on_verdict
        self._today = today
        self._clock = clock  # passages close `timeout_s` after their last input by this clock
        self._queue: queue.Queue[BaseModel] = queue.Queue(maxsize=queue_size)
        self._recent: OrderedDict[str, tuple[PassageFacts, Decision]] = OrderedDict()  # for overrides
        self._state = KioskState(
            site=recorder.box.site,
            device=recorder.box.device,
            kind=recorder.box.kind.value,
            link=link_view(),
            voice=voice,
        )
        self.devices: dict[str, str] = {}
        self._dirty = True
        self.shown = 0  # verdicts committed and shown
        self.handled = 0  # events taken from the queue and handled (what a caller waits on)

    @property
    def state(self) -> KioskState:
        return self._state

    def submit(self, event: BaseModel, timeout: float = 2.0) -> None:
        """Thread-safe: hand an event or a command to the station."""
        try:
            self._queue.put(event, timeout=timeout)
        except queue.Full:
            raise StationFull("the station is busy; try again") from None

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                event = self._queue.get(timeout=0.25)
            except queue.Empty:
                event = None
            now = self._clock()
            try:
                closed = self._handle(event, now) if event is not None else []
                closed += self.machine.tick(now)
                for facts in closed:
                    self._decide(facts)
            except Exception:  # one bad event must not stop the station
                log.exception("station could not handle an event", extra={"event": type(event).__name__})
            self._publish()
            if event is not None:
                self.handled += 1

    def _handle(self, event: BaseModel, now: float) -> list[PassageFacts]:
        m = self.machine
        match event:
            case CardPresented():
                return m.card(person_from_card(event, self._today()), now)
            case TemperatureMeasured():
                return m.temperature(reading_from_measurement(event), now)
            case DeviceHealth():
                self.devices[f"{event.kind}:{event.name}"] = event.state.value
                return []
            case ManualId():
                person = PersonFacts(source=IdSource.TYPED, id_number=event.id_number, name=event.name)
                return m.card(person, now)
            case Remeasure():
                m.remeasure(now)
                return []
            case SetVehicle():
                m.set_vehicle(event.vehicle)
                return []
            case Override():
                self._override(event)
                return []
            case RecordPassage():
                return [event.facts]
        text = getattr(event, "text", None)
        if isinstance(text, str):  # a scanned code (drivers.camera.events.CodeScanned)
            status = self._verify(text, getattr(event, "colour", CodeColour.UNKNOWN))
            return m.code(code_from_status(status), text, now)
        log.warning("ignoring an unknown event", extra={"event": type(event).__name__})
        return []

    def _decide(self, facts: PassageFacts, override: OverrideRecord | None = None, supersedes: Any = None) -> None:
        try:
            verdict = self.recorder.record(facts, override=override, supersedes=supersedes)
        except OutboxError as exc:
            log.error("verdict not recorded", extra={"error": str(exc)})
            self._state = self._state.model_copy(
                update={"error": "无法记录结果，请使用纸质登记 · Cannot record: use the paper ledger", "verdict": None}
            )
            return
        self._recent[str(verdict.id)] = (facts, verdict.decision)
        while len(self._recent) > 200:
            self._recent.popitem(last=False)
        self.shown += 1
        self._state = self._state.model_copy(update={"verdict": verdict_view(verdict, facts), "error": None})
        self._dirty = True  # the same verdict view twice (an override to the same words) is still news
        log.info(
            "verdict shown",
            extra={
                "verdict": str(verdict.id),
                "seq": verdict.seq,
                "decision": verdict.decision.value,
                "id": idnumber.mask(facts.person.id_number) if facts.person else None,
            },
        )
        self._on_verdict(verdict)

    def _override(self, command: Override) -> None:
        recent = self._recent.get(str(command.verdict_id))
        if recent is None:
            log.warning("override of an unknown or old verdict", extra={"verdict": str(command.verdict_id)})
            return
        facts, original = recent
        record = OverrideRecord(
            original=original, decision=command.decision, reason=command.reason, staff=command.staff
        )
        self._decide(facts, override=record, supersedes=command.verdict_id)

    def _publish(self) -> None:
        """Hand the kiosk a new snapshot, only when something it shows changed."""
        update = {
            "passage": passage_view(self.machine.view()),
            "vehicle": self.machine.vehicle,
            "link": self._link_view(),
            "devices": dict(self.devices),
        }
        candidate = self._state.model_copy(update=update)
        if candidate == self._state and not self._dirty:
            return
        self._dirty = False
        self._state = candidate.model_copy(update={"version": self._state.version + 1})
        self._on_state(self._state)

"""The closed loop (闭环管理) in the demo: what `checkpoint demo` adds so that the loop runs by itself.

- The built-in sample tree (central.regions.SAMPLE: 东湖县 and 西山县 of 示例市, their townships and
  communities, and 东湖县's yellow-code hotel). The traffic checkpoints stand at the two counties;
  box-2 stands at the hotel (a community-kind box that reads the card of each guest it checks in).
- The travellers say where they are going (a community of the sample); a quarter come from out of
  the province, and there are more yellow and red codes than on an ordinary day, so that a few
  minutes show transfers, tests and registrations owed.
- Short deadlines: a transfer in 90 s, a test on arrival or a registration in 2 minutes; central
  looks for overdue ones every 5 s.
- Half of the out-of-province travellers registered in advance: the list is imported through the
  API at the start and pushed to the boxes (the kiosk shows 已报备 → the community).
- The conductor: every few seconds it reads the transfers owed; two in three of the transferred
  travellers turn up at the hotel about 20 s later (their file goes into the hotel box's arrivals
  folder, and the box reads their card), the others never arrive and go overdue. A minute in, a
  test-result file arrives for two in three of the tests owed, imported through the API.
- A county login (东湖县) and a township login (新华街道): each sees only its own area.
- At the end, which obligations closed by themselves (by an arrival, by a test result) and how long
  each took, from the passage to the evidence.

The conductor knows the travellers because it draws the same reproducible streams as the boxes
(the same seeds and settings of agent.travellers.TravellerMix).
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from agent.config import TravellerSettings
from agent.travellers import Traveller
from central import regions
from central.auth import Accounts, Role
from central.schema import obligations
from central.sql import aware
from central.store import Store
from contract import idnumber

COUNTIES = ("390102", "390103")  # 东湖县, 西山县
HOTEL = "390102-H1"  # 东湖黄码宾馆（集中隔离点）
TOWNSHIP = "390102001"  # 新华街道
LOGINS = {"county": ("390102", "东湖县"), "township": (TOWNSHIP, "新华街道")}
DESTINATIONS = ("390102001001", "390102001002", "390102002001", "390102002002", "390102003001", "390103001001")
TRAVELLERS = TravellerSettings(yellow=0.12, red=0.08, destinations=list(DESTINATIONS), home_regions=list(COUNTIES),
                               home_share=0.75)
DEADLINES_H = {"isolation_transfer": 90 / 3600, "fever_clinic": 90 / 3600, "test_on_arrival": 120 / 3600,
               "register_destination": 120 / 3600}
ZONE = "Asia/Shanghai"  # the demo office's days and clocks (central.yaml `timezone`): a result file's times are in it
ARRIVE_AFTER_S = 20.0
RESULTS_AFTER_S = 60.0
STREAM = 3000  # travellers drawn from each traffic box's stream: more than a demo's hour passes


def place_of(n: int, kind: str) -> str:
    """Where box-n stands: traffic boxes at the two counties in turn, box-2 at the hotel, other
    community boxes at a community of 东湖县."""
    if kind == "traffic":
        return COUNTIES[(n // 2) % 2]
    return HOTEL if n == 2 else DESTINATIONS[0]


def plant(store: Store, password: str) -> None:
    """The sample tree, and the county's and the township's logins (operators of their area)."""
    with store.engine.begin() as conn:
        regions.load_tree(conn, regions.WHOLE, regions.SAMPLE.read_bytes())
    accounts = Accounts(store.engine)
    for user, (node, _name) in LOGINS.items():
        accounts.add(user, password, Role.OPERATOR, region=node)


def pseudonymous(key: bytes, seeds: list[int]) -> dict[str, Traveller]:
    """The traffic boxes' travellers (the first STREAM of each stream), by pseudonym."""
    people: dict[str, Traveller] = {}
    for seed in seeds:
        mix = TRAVELLERS.mix(seed)
        for _ in range(STREAM):
            t = mix.next()
            people[idnumber.pseudonym(key, t.id_number)] = t
    return people


@dataclass
class Conductor:
    """Plays the people and offices outside the boxes: arrivals at the hotel, the test-result file."""

    store: Store
    central_url: str
    login: tuple[str, str]
    key: bytes
    seeds: list[int]
    arrivals: Path  # the hotel box's arrivals folder
    started: float = field(default_factory=time.monotonic)
    said: Callable[[str], None] = print
    _people: dict[str, Traveller] = field(default_factory=dict)
    _sent: set[int] = field(default_factory=set)  # transfers decided (arriving or not)
    _results_done: bool = False

    def run(self, stop: threading.Event) -> None:
        self._people = pseudonymous(self.key, self.seeds)
        registered = False
        while not stop.wait(3.0):
            try:
                if not registered:
                    self._register()
                    registered = True
                self._transfers()
                if not self._results_done and time.monotonic() - self.started >= RESULTS_AFTER_S:
                    self._results_done = True
                    self._results()
            except (httpx.HTTPError, OSError) as exc:  # central restarting: try again next round
                self.said(f"loop: {exc}")

    def _post(self, path: str, **request: Any) -> httpx.Response:
        """As the demo's admin, logged in through the API as a script would."""
        with httpx.Client(base_url=self.central_url, timeout=60) as client:
            login = {"username": self.login[0], "password": self.login[1]}
            token = client.post("/api/session", json=login).json()["token"]
            return client.post(path, headers={"Authorization": f"Bearer {token}"}, **request)

    def _register(self) -> None:
        """Half of the out-of-province travellers registered in advance with their destination."""
        outsiders = [t for t in self._people.values()
                     if not t.id_number.startswith(COUNTIES) and t.destination_code][::2]
        entries = [{"id_number": t.id_number, "name": t.name, "plate": t.plate or "", "origin": t.origin or "",
                    "destination": t.destination_code, "expected": date.today().isoformat()} for t in outsiders]
        answer = self._post("/api/registrations", json={"entries": entries})
        self.said(f"pre-registrations 报备: {answer.json().get('pushed', answer.text[:200])} pushed to the boxes")

    def _transfers(self) -> None:
        """Two in three of the travellers 东湖县 transfers arrive at its hotel ARRIVE_AFTER_S after their
        passage (西山县 has no hotel box: its transfers are confirmed by staff, or go overdue)."""
        with self.store.engine.connect() as conn:
            owed = conn.execute(select(obligations.c.id, obligations.c.pseudonym, obligations.c.opened_at).where(
                obligations.c.kind == "isolation_transfer", obligations.c.node == COUNTIES[0],
                obligations.c.state.in_(("open", "overdue")))).all()
        now = datetime.now(UTC)
        for ob_id, person, opened_at in owed:
            traveller = self._people.get(person or "")
            if ob_id in self._sent or traveller is None or now - aware(opened_at) < timedelta(seconds=ARRIVE_AFTER_S):
                continue
            self._sent.add(ob_id)
            if ob_id % 3 == 0:
                continue  # never arrives: the transfer goes overdue
            self.arrivals.mkdir(parents=True, exist_ok=True)
            ticket = self.arrivals / f"{ob_id:08d}.json"
            ticket.with_suffix(".tmp").write_text(traveller.model_dump_json())
            ticket.with_suffix(".tmp").replace(ticket)

    def _results(self) -> None:
        """A test-result file for two in three of the tests owed, as the testing side sends it."""
        with self.store.engine.connect() as conn:
            owed = conn.execute(select(obligations.c.id, obligations.c.pseudonym, obligations.c.opened_at).where(
                obligations.c.kind == "test_on_arrival", obligations.c.state.in_(("open", "overdue")))).all()
        rows = [(self._people[p], aware(at)) for ob_id, p, at in owed if p in self._people and ob_id % 3 != 0]
        out = io.StringIO()
        table = csv.writer(out)
        table.writerow(["身份证号", "采样时间", "检测结果"])
        for traveller, passed in rows:
            sampled = (passed + timedelta(seconds=30)).astimezone(ZoneInfo(ZONE))
            table.writerow([traveller.id_number, sampled.strftime("%Y-%m-%d %H:%M:%S"), "阴性"])
        data = out.getvalue().encode("utf-8-sig")
        (self.arrivals.parent / "results.csv").write_bytes(data)
        answer = self._post("/api/results/file", files={"file": ("results.csv", data, "text/csv")})
        self.said(f"test results 核酸结果: {len(rows)} lines imported ({answer.status_code})")


def closed_by_themselves(store: Store) -> dict[str, Any]:
    """The obligations evidence closed without anyone (an arrival, a test result): how many of each
    kind and how long each took, from the passage to the evidence; and how many went overdue."""
    with store.engine.connect() as conn:
        found = conn.execute(select(obligations.c.kind, obligations.c.proof, obligations.c.opened_at,
                                    obligations.c.closed_at, obligations.c.state, obligations.c.overdue_at)).all()
    closed: dict[str, list[float]] = {}
    for kind, proof, opened_at, closed_at, state, _overdue in found:
        if state == "done" and proof in ("arrival", "test_result") and closed_at is not None:
            took = (aware(closed_at) - aware(opened_at)).total_seconds()
            closed.setdefault(f"{kind} by {proof}", []).append(round(took, 1))
    return {
        "obligations": len(found),
        "closed_by_themselves": {k: {"count": len(v), "median_s": median(v), "seconds": sorted(v)}
                                 for k, v in sorted(closed.items())},
        "overdue": sum(1 for row in found if row.overdue_at is not None),
        "open": sum(1 for row in found if row.state == "open"),
    }

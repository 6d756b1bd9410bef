"""A small region tree with checkpoints, hotel and community boxes, and verdicts that owe follow-ups,
shared by the obligation tests (synthetic people only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from central.intake import DeviceKey, check
from central.obligations import Policy
from central.regions import ROOT, paths_of
from central.schema import case_events, obligations, regions
from central.sql import aware
from central.store import Batch, Store
from contract import idnumber, signing, topics
from contract.messages import (
    CheckpointKind,
    CodeColour,
    CodeInput,
    ColourSource,
    Decision,
    FollowUp,
    Identity,
    Inputs,
    PersonInput,
    Reason,
    TemperatureInput,
    TravelInput,
    Verdict,
)
from tests.central.conftest import KEY, PSEUDONYM_KEY, synthetic_id
from tests.factories import verdict

PROVINCE, CITY, COUNTY, TOWN, COMMUNITY, OTHER_COUNTY = "42", "4201", "420102", "420102001", "420102001003", "420105"
TREE = {PROVINCE: ROOT, CITY: PROVINCE, COUNTY: CITY, TOWN: COUNTY, COMMUNITY: TOWN, "hotel-3": COUNTY,
        OTHER_COUNTY: CITY}
NAMES = {PROVINCE: "湖北省", CITY: "武汉市", COUNTY: "江岸区", TOWN: "大智街道", COMMUNITY: "幸福社区",
         "hotel-3": "黄码酒店", OTHER_COUNTY: "江汉区"}
BOXES = {  # device: (site, kind, node)
    "box-a": ("site-a", CheckpointKind.TRAFFIC, COUNTY),
    "box-b": ("site-b", CheckpointKind.TRAFFIC, OTHER_COUNTY),
    "hotel-box": ("hotel", CheckpointKind.COMMUNITY, "hotel-3"),
    "gate-box": ("gate", CheckpointKind.COMMUNITY, COMMUNITY),
}
DEADLINES = {FollowUp.TEST_ON_ARRIVAL: 24.0, FollowUp.ISOLATION_TRANSFER: 4.0, FollowUp.FEVER_CLINIC: 4.0,
             FollowUp.REGISTER_DESTINATION: 24.0}
POLICY = Policy(DEADLINES, ("http://127.0.0.1:9/hook",))
KEYS = {d: DeviceKey(site, KEY, False) for d, (site, _, _) in BOXES.items()}


def plant(store: Store) -> None:
    """The tree, and each box registered at its node."""
    paths = paths_of(TREE)
    with store.engine.begin() as conn:
        conn.execute(regions.insert(), [dict(code=c, name=NAMES[c], parent=p, path=paths[c]) for c, p in TREE.items()])
    for device, (site, kind, node) in BOXES.items():
        store.register_device(device, site, kind.value, KEY.hex(), region=node)


PROFILES: dict[str, tuple[CodeColour, Decision, list[Reason], list[FollowUp]]] = {
    "red": (CodeColour.RED, Decision.DENY, [Reason.CODE_RED], [FollowUp.ISOLATION_TRANSFER, FollowUp.NOTIFY_COMMAND]),
    "yellow": (CodeColour.YELLOW, Decision.REVIEW, [Reason.CODE_YELLOW],
               [FollowUp.STAFF_VERIFY, FollowUp.TEST_ON_ARRIVAL]),
    "risk": (CodeColour.GREEN, Decision.REVIEW, [Reason.RISK_AREA_ORIGIN],
             [FollowUp.TEST_ON_ARRIVAL, FollowUp.REGISTER_DESTINATION]),
    "outsider": (CodeColour.GREEN, Decision.PASS, [Reason.CODE_GREEN, Reason.OUT_OF_PROVINCE],
                 [FollowUp.REGISTER_DESTINATION]),
    "green": (CodeColour.GREEN, Decision.PASS, [Reason.CODE_GREEN], []),
}


def traveller(seq: int, person: int, profile: str, device: str = "box-a", destination: str | None = None,
              at: datetime | None = None) -> Verdict:
    """A verdict of synthetic person `person` at `device`'s site, as the default policy decides it."""
    colour, decision, reasons, follow_up = PROFILES[profile]
    number = synthetic_id(seq=person)
    site, kind, _node = BOXES[device]
    inputs = Inputs(
        person=PersonInput(source="card", pseudonym=idnumber.pseudonym(PSEUDONYM_KEY, number),
                           id_masked=idnumber.mask(number),
                           identity=Identity(name=f"测试{person}号", id_number=number) if decision != "pass" else None),
        code=CodeInput(colour=colour, source=ColourSource.SIGNED_PAYLOAD),
        temperature=TemperatureInput(body_c=36.5, sensor="gy-mcu"),
        travel=TravelInput(plate="鄂A12345", origin="310101", destination="幸福小区", destination_code=destination),
    )
    changes: dict[str, Any] = {"device_time": at} if at else {}
    return verdict(seq=seq, site=site, device=device, kind=kind, inputs=inputs, decision=decision, reasons=reasons,
                   follow_up=follow_up, **changes)


def batch(*vs: Verdict) -> Batch:
    """The verdicts as ingest turns them into rows (checked and signed with their box's key)."""
    return Batch(verdicts=[check(topics.uplink(v.site, v.device, "verdict"), signing.sign(KEY, v), KEYS,
                                 max_bytes=65536).row for v in vs])


def owed(store: Store) -> list[dict[str, Any]]:
    """Every obligation, its times in UTC (SQLite hands them back naive)."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(obligations).order_by(obligations.c.id)).mappings().all()
    return [{k: aware(v) if isinstance(v, datetime) else v for k, v in r.items()} for r in rows]


def history(store: Store, case_id: int) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.scalars(select(case_events.c.action).where(case_events.c.case_id == case_id)
                                 .order_by(case_events.c.id)))


def when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)

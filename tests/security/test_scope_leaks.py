"""A scope leak is a security bug: a user of one node must find nothing of another node's area in
any page, API route or export, whatever they put in the URL. The walk is generated from the app's
routes (a new route is walked without anyone adding it here): every GET route, with every path
parameter set to each known object (cases, verdicts, boxes, checkpoints, nodes: the user's own and
everyone else's) and every search parameter set to each; every other route (the actions) with
everyone else's objects only, after which nothing of the database may have changed. It runs as a
user of a township (a child of the county whose data is there) and as a user of the sibling county,
each an admin (who may do the most), on SQLite and on PostgreSQL.

What belongs to a node: its checkpoints, their boxes and verdicts (by id, plate, pseudonym), the
cases opened there, the users who stand there and their audit entries. A "foreign" marker is any
of those of a node outside the walker's subtree; no answer may contain one (in its body, an XLSX's
cells, or a file name)."""

from __future__ import annotations

import io
import itertools
import typing
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI, params
from fastapi.dependencies.utils import get_flat_params
from openpyxl import load_workbook
from sqlalchemy import select, text

from central import audit, regions
from central.auth import Accounts, Role
from central.intake import DeviceKey, check
from central.obligations import Policy
from central.schema import metadata, pushes, registrations, rollout_boxes, rollouts
from central.store import Batch, Store
from contract import idnumber, signing, topics
from contract.messages import FollowUp, Reason
from tests import mqtt
from tests.central.conftest import KEY, PASSWORD, Server, flagged, settings_for
from tests.central.conftest import cheap_password_hashes as cheap_password_hashes
from tests.central.conftest import store as store
from tests.factories import verdict
from tests.security.test_hostile_parameters import _kind, _routes

# (site, box, node, plate): each checkpoint's box and the plate of its traveller
SITES = [
    ("east-gate", "box-east", "390102", "鄂E0001"),  # the county
    ("town-gate", "box-town", "390102001", "鄂T0002"),  # a township of it
    ("hill-gate", "box-hill", "390102002001", "鄂H0003"),  # a village of the township's sibling
    ("west-gate", "box-west", "390103", "鄂W0004"),  # the sibling county
    ("site-a", "box-a", regions.ROOT, "鄂R0005"),  # the conftest's box, at the root
]
USERS = {"u-root": regions.ROOT, "u-county": "390102", "u-town": "390102001", "u-west": "390103"}
# tables that record who looked and logged in, not what belongs to an area
NOT_COMPARED = {"audit_log", "sessions", "login_failures"}


@dataclass
class Thing:
    """One object of a node, with the strings that would show it."""

    node: str
    markers: set[str] = field(default_factory=set)


@dataclass
class Area:
    store: Store
    things: list[Thing]
    values: dict[str, list[str]]  # path and search parameters: every known object of each kind
    case_node: dict[int, str]  # each case's node (where it was opened)
    ob_node: dict[str, str]  # each obligation's node (the office that owes it)

    def inside(self, user: str, node: str) -> bool:
        with self.store.engine.connect() as conn:
            try:
                regions.node_in(conn, regions.scope_of(conn, USERS[user]), node)
            except regions.RegionError:
                return False
        return True

    def foreign(self, user: str) -> set[str]:
        return set().union(*(t.markers for t in self.things if not self.inside(user, t.node)))


def _batch(site: str, box: str, *vs: Any) -> Batch:
    keys = {box: DeviceKey(site, KEY, False)}
    return Batch(verdicts=[check(topics.uplink(site, box, "verdict"), signing.sign(KEY, v), keys,
                                 max_bytes=65536).row for v in vs])


@pytest.fixture
def area(store: Store) -> Area:
    store.obligations = Policy({FollowUp.TEST_ON_ARRIVAL: 24.0})  # each red arrival owes a test on arrival
    with store.engine.begin() as conn:
        regions.load_tree(conn, regions.WHOLE, regions.SAMPLE.read_bytes())
    things: list[Thing] = []
    values: dict[str, list[str]] = {"site": [], "device": [], "verdict_id": [], "case_id": [],
                                    "region": list(set(USERS.values()) | {"390102002", "42"})}
    for n, (site, box, node, plate) in enumerate(SITES, start=1):
        store.register_device(box, site, "traffic", KEY.hex(), region=node)
        red = flagged(1, person=n, device=box, site=site)
        red = red.model_copy(update={"follow_up": [FollowUp.TEST_ON_ARRIVAL], "inputs": red.inputs.model_copy(update={
            "travel": red.inputs.travel.model_copy(update={"plate": plate, "destination": f"去{plate}"})})})
        passed = verdict(seq=2, device=box, site=site)
        store.write_batch(_batch(site, box, red, passed))
        person = idnumber.pseudonym(bytes(range(32)), _number(n))
        things.append(Thing(node, {site, box, plate, str(red.id), str(passed.id), person}))
        values["site"].append(site)
        values["device"].append(box)
        values["verdict_id"] += [str(red.id), str(passed.id)]
    # a traveller first flagged in the sibling county, then seen at the township's gate: the case is
    # the sibling county's, the township's passage the township's
    crossing = [flagged(3, person=9, reason=Reason.CODE_YELLOW, device="box-west", site="west-gate"),
                flagged(3, person=9, reason=Reason.CODE_YELLOW, device="box-town", site="town-gate")]
    crossing[1] = crossing[1].model_copy(update={"inputs": crossing[1].inputs.model_copy(update={
        "travel": crossing[1].inputs.travel.model_copy(update={"plate": "鄂T0009"})})})
    store.write_batch(_batch("west-gate", "box-west", crossing[0]))
    store.write_batch(_batch("town-gate", "box-town", crossing[1]))
    things += [Thing("390103", {str(crossing[0].id)}), Thing("390102001", {str(crossing[1].id), "鄂T0009"})]
    values["verdict_id"] += [str(v.id) for v in crossing]
    accounts = Accounts(store.engine)
    for name, node in USERS.items():
        accounts.add(name, PASSWORD, Role.ADMIN, region=node)
        with store.engine.begin() as conn:
            audit.record(conn, name, "walk_marker", f"by {name}")
        things.append(Thing(node, {name}))
    # what the whole deployment's admin pushed, and pre-registrations to each county's communities
    at = datetime.now(UTC)
    with store.engine.begin() as conn:
        conn.execute(pushes.insert().values(what="risk_areas", version="risk-areas-walk", issued_at=at,
                                            username="u-root", entries=1, document={}))
        for n, (destination, plate) in enumerate((("390102001001", "鄂T0R01"), ("390103001001", "鄂W0R02"))):
            conn.execute(registrations.insert().values(
                pseudonym=f"{n:064x}", id_masked="110***********0000", plate=plate, origin="420100",
                destination=destination, expected=TODAY, imported_at=at, batch="walk", username="u-root"))
            things.append(Thing(destination, {plate}))
        boxes = [(box, site) for site, box, _node, _plate in SITES]  # a rollout to every box, by the root
        conn.execute(rollouts.insert().values(
            version="9.9.9", target={"site": None, "devices": [b for b, _s in boxes], "percent": 100},
            waves=[[b for b, _s in boxes]], wave=0, max_failed_percent=0, state="running", reason="",
            created_by="u-root", created_at=at, updated_at=at))
        conn.execute(rollout_boxes.insert(), [dict(rollout=1, device=b, site=s, wave=0, state="pending", reason="")
                                              for b, s in boxes])
    with store.engine.connect() as conn:
        cases = conn.execute(text("SELECT id, first_site FROM cases ORDER BY id")).all()
        owed = dict(conn.execute(text("SELECT site, node FROM obligations")).all())
        obligations = conn.execute(text("SELECT id, node FROM obligations ORDER BY id")).all()
    assert owed == {"east-gate": "390102", "town-gate": "390102", "hill-gate": "390102", "west-gate": "390103",
                    "site-a": regions.ROOT}  # each gate's county owes its arrival's test
    node_of = {site: node for site, _box, node, _plate in SITES}
    values["case_id"] = [str(c.id) for c in cases]
    values["ob_id"] = [str(o.id) for o in obligations]
    return Area(store, things, values, {c.id: node_of[c.first_site] for c in cases},
                {str(o.id): o.node for o in obligations})


def _number(person: int) -> str:
    first17 = f"110105198001010{person:02d}"
    return first17 + idnumber.check_character(first17)


# the walk


TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the office's day, as central counts days
WHEN = {"day": TODAY.isoformat(), "first": "2000-01-01", "last": "2000-12-31"}


def _gets(app: FastAPI, values: dict[str, list[str]]) -> Iterator[tuple[str, dict[str, str]]]:
    """(path, query) for every GET route: each path parameter through every known value, and each
    search parameter through every known value with the others left out."""
    for template, route in _routes(app):
        if "GET" not in route.methods or template in ("/api/feed", "/lang/{lang}", "/login"):
            continue
        fields = get_flat_params(route.dependant)
        in_path = [f.alias for f in fields if isinstance(f.field_info, params.Path)]
        queries = [f for f in fields if isinstance(f.field_info, params.Query)]
        required = {f.alias: _one(f.alias, values) for f in queries if f.field_info.is_required()}
        choices = [_all(f, values, template) for f in fields if isinstance(f.field_info, params.Path)]
        for chosen in itertools.product(*choices):
            path = template
            for name, value in zip(in_path, chosen, strict=True):
                path = path.replace("{" + name + "}", value)
            yield path, {**WHEN, **required} if template.startswith("/api/exports/ledger") else required
            for f in queries:
                if f.alias in values:
                    for value in values[f.alias]:
                        yield path, {**required, **({"day": WHEN["day"]} if "day" in required else {}),
                                     f.alias: value}
            if any(f.alias == "first" for f in queries):
                yield path, {**required, "first": f"{TODAY.year}-01-01", "last": TODAY.isoformat()}


def _root_exports(server: Server) -> list[str]:
    """The ids of exports the root's admin started, each built (its file fetched by its owner)."""
    root = server.client()
    token = root.post("/api/session", json={"username": "u-root", "password": PASSWORD}).json()["token"]
    root.headers["Authorization"] = f"Bearer {token}"
    jobs = [root.get(f"/api/exports/{what}.xlsx", headers={"Prefer": "respond-async"}).json()["id"]
            for what in ("cases", "figures", "report")]
    for job in jobs:
        mqtt.wait_until(lambda job=job: root.get(f"/api/exports/jobs/{job}").json()["state"] == "done", timeout=30,
                        what="the root's export")
        assert root.get(f"/api/exports/jobs/{job}/file").status_code == 200
    return jobs


def _one(name: str, values: dict[str, list[str]]) -> str:
    if name in values:
        return values[name][0]
    assert name in WHEN, f"add a value for the required query parameter {name!r}"
    return WHEN[name]


def _all(param: Any, values: dict[str, list[str]], template: str) -> list[str]:
    """Every value to try for a path parameter: the known objects of its kind; for a number of a kind
    the walk does not know, the first thirty."""
    name = param.alias
    fixed = {"fmt": ["csv", "xlsx"], "request_id": [str(uuid.uuid4())], "version": ["1.0.0"], "name": ["x.whl"],
             "action": ["pause", "resume", "cancel"]}
    if name in values or name in fixed:
        return values.get(name) or fixed[name]
    assert _kind(param.field_info.annotation) is int, f"{template}: add the known values of {name!r} to the walk"
    return [str(n) for n in range(1, 31)]


def _text(answer: httpx.Response) -> str:
    """What the answer shows: its body (an XLSX's cells) and its file name."""
    shown = answer.headers.get("content-disposition", "")
    if answer.headers.get("content-type", "").startswith("application/vnd.openxmlformats"):
        book = load_workbook(io.BytesIO(answer.content), read_only=True)
        cells = (str(c) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for c in row)
        return shown + "\n" + "\t".join(cells)
    return shown + "\n" + answer.text


def _snapshot(s: Store) -> dict[str, list[Any]]:
    with s.engine.connect() as conn:
        return {t.name: sorted(map(repr, conn.execute(select(t)).all())) for t in metadata.sorted_tables
                if t.name not in NOT_COMPARED}


def _actions(app: FastAPI, theirs: dict[str, list[str]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx keyword arguments) for every route that is not a GET, aimed at the
    walker's foreign objects (`theirs`): in its path, in its form fields, in its JSON body."""
    elsewhere = theirs["region"][0]
    for template, route in _routes(app):
        methods = route.methods - {"GET", "HEAD"}
        if not methods or template in ("/api/session", "/login", "/logout", "/api/me/password"):
            continue
        fields = get_flat_params(route.dependant)
        path_params = [f for f in fields if isinstance(f.field_info, params.Path)]
        in_path = [f.alias for f in path_params]
        body = route.dependant.body_params
        forms = {f.alias for f in body if isinstance(f.field_info, params.Form) and not isinstance(
            f.field_info, params.File)}
        files = {f.alias for f in body if isinstance(f.field_info, params.File)}
        model = body[0].field_info.annotation if len(body) == 1 and not forms and not files else None
        for f in path_params:
            assert f.alias in theirs or f.alias in ("fmt", "action"), \
                f"{template}: add another area's {f.alias!r} values to the walk (the fixture's `values`)"
        for chosen in itertools.product(*[theirs.get(f.alias) or _all(f, theirs, template) for f in path_params]):
            path = template
            for name, value in zip(in_path, chosen, strict=True):
                path = path.replace("{" + name + "}", value)
            for value in itertools.islice(itertools.cycle(theirs["site"]), 3):
                extra: dict[str, Any] = {}
                if forms:
                    extra["data"] = {n: _field(n, value, elsewhere) for n in forms}
                if files:  # a table that reaches into another area
                    table = f"代码,名称,上级代码\n{elsewhere}-W9,别处,{elsewhere}\n"
                    extra["files"] = {n: ("x.csv", table.encode()) for n in files}
                if isinstance(model, type) and hasattr(model, "model_fields"):
                    extra["json"] = {n: _field(n, value, elsewhere, typing.get_type_hints(model).get(n))
                                     for n in model.model_fields}
                for method in sorted(methods):
                    yield method, path, extra


def _field(name: str, site: str, elsewhere: str, annotation: Any = str) -> Any:
    """A plausible value for a form field or JSON member, naming the walker's foreign objects."""
    plain = {"site": site, "device": "box-new", "region": elsewhere, "action": "note", "note": "walk",
             "why": "walk", "kind": "traffic", "key_hex": "ab" * 32, "log_lines": 10, "transfer_kind": None,
             "transfer_to": None, "assignee": None, "to": elsewhere, "node": elsewhere}
    if name in plain:
        return plain[name]
    kind = _kind(annotation)
    return {int: 1, bool: True, date: WHEN["day"], datetime: f"{WHEN['day']}T00:00:00Z"}.get(kind or str, "walk")


@pytest.mark.parametrize("user", ["u-town", "u-west"])
def test_a_user_finds_nothing_outside_their_area_on_any_route(area: Area, user: str) -> None:
    foreign = area.foreign(user)
    assert len(foreign) > 20
    with Server(settings_for(None), area.store) as server:
        client = server.client()
        token = client.post("/api/session", json={"username": user, "password": PASSWORD}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        app = server.server.config.app
        jobs = _root_exports(server)  # the whole deployment's files, built for the root's admin
        walked = 0
        leaks: list[str] = []
        own = set().union(*(t.markers for t in area.things)) - foreign
        seen: set[str] = set()
        for path, query in _gets(app, {**area.values, "job_id": jobs}):
            answer = client.get(path, params=query)
            walked += 1
            assert answer.status_code < 500, (path, query, answer.text[:300])
            shown = _text(answer)
            asked = path + str(query)  # what the walker typed may come back (an echo, not a leak)
            found = sorted(m for m in foreign if m in shown and m not in asked)
            seen |= {m for m in own if m in shown}
            if found:
                leaks.append(f"GET {path} {query} -> {answer.status_code}: {found}")
        assert not leaks, f"{len(leaks)} of {walked} answers show another area's data:\n" + "\n".join(leaks[:30])
        assert walked > 100
        assert seen == own  # and everything of their own area shows somewhere

        for job in jobs:  # another user's export: not found, however it is asked for
            assert client.get(f"/api/exports/jobs/{job}").status_code == 404
            assert client.get(f"/api/exports/jobs/{job}/file").status_code == 404

        # the case ids of other areas: not found, wherever they are asked for
        mine = {str(c) for c, node in area.case_node.items() if area.inside(user, node)}
        for case_id in set(area.values["case_id"]) - mine:
            assert client.get(f"/api/cases/{case_id}").status_code == 404
            assert client.get(f"/cases/{case_id}").status_code == 404
        shown_ids = {str(r["case_id"]) for r in client.get("/api/verdicts", params={"limit": 1000}).json()
                     if r["case_id"] is not None} | {str(c["id"]) for c in client.get("/api/cases").json()}
        assert shown_ids and shown_ids <= mine

        # every action on another area's objects is refused, and changes nothing
        theirs = {kind: [v for v in known if v in foreign] for kind, known in area.values.items()}
        theirs["case_id"] = sorted(set(area.values["case_id"]) - mine)
        theirs["ob_id"] = [ob for ob, node in area.ob_node.items() if not area.inside(user, node)]
        theirs["rollout"] = ["1"]  # it reaches boxes outside the walker's area
        theirs["region"] = [r for r in area.values["region"] if not area.inside(user, r)
                            and r in {"390102", "390103", "390102002"}]
        before = _snapshot(area.store)
        acted = 0
        for method, path, extra in _actions(app, theirs):
            answer = client.request(method, path, **extra)
            acted += 1
            # a page may answer a refusal with the page and its error (200) or a redirect to it (303)
            refused = (400, 401, 403, 404, 409, 422) if path.startswith("/api/") else (200, 303, 403, 404, 409, 422)
            assert answer.status_code in refused, (method, path, extra, answer.status_code, answer.text[:300])
            found = sorted(m for m in foreign if m in _text(answer) and m not in path + str(extra))
            assert not found, (method, path, found)
        assert acted > 20
        assert _snapshot(area.store) == before

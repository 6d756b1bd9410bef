"""Pre-registration (报备) imports: vectors of what offices send, bad lines included; all or nothing
over the API; the push on the real broker; the page's progress stream; and a 100,000-line file."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import text

from central import registrations, sheets
from central.auth import Accounts, Role
from central.config import RegistrationSettings
from central.regions import WHOLE
from central.store import Store
from checkpoint.broker import Broker
from contract import idnumber, topics
from contract.messages import RegistrationsPush
from tests import mqtt
from tests.central.conftest import PASSWORD, PSEUDONYM_KEY, Server, add_places, settings_for, synthetic_id

TODAY = date.today()
DAY = (TODAY + timedelta(days=1)).isoformat()
A, B = synthetic_id(seq=41), synthetic_id(seq=42)
WRONG_CHECK = A[:-1] + ("0" if A[-1] != "0" else "1")
HEAD = "身份证号,姓名,车牌,始发地,目的地,预计到达日期\n"
RULES = registrations.Rules(key=PSEUDONYM_KEY, today=TODAY, window=RegistrationSettings())
TREE = {"420102": "江岸区", "420102001": "大智街道", "420102001003": "天声街社区"}


def people(n: int) -> list[str]:
    """`n` different synthetic ID numbers: a thousand per birthday."""
    return [synthetic_id(birth=f"{date(1960, 1, 1) + timedelta(days=i // 1000):%Y%m%d}", seq=i % 1000)
            for i in range(n)]


def p(number: str) -> str:
    return idnumber.pseudonym(PSEUDONYM_KEY, number)


def check(data: bytes, places: dict[str, str] | None = None) -> sheets.Checked[registrations.Row]:
    rules = registrations.Rules(key=PSEUDONYM_KEY, today=TODAY, window=RegistrationSettings(), places=places)
    sheet = sheets.read(data, registrations.COLUMNS)
    return sheets.check(sheet, lambda cells: registrations.parse_line(cells, rules), registrations.row_key)


GOOD = [  # (what, line after the header, destination, expected day)
    ("a whole line", f"{A},甲乙,鄂A12345,420100,420102001003,{DAY}", "420102001003", DAY),
    ("no plate nor origin, a county", f"{A},甲乙,,,420102,{DAY}", "420102", DAY),
    ("slashes and a lower-case x", f"{A[:-1]}{A[-1].lower()},甲乙,,,420102001,{DAY.replace('-', '/')}", "420102001",
     DAY),
    ("a day in Chinese", f"{A},甲乙,,,420102,{TODAY.year}年{TODAY.month}月{TODAY.day}日", "420102",
     TODAY.isoformat()),
]


@pytest.mark.parametrize(("what", "line", "destination", "day"), GOOD, ids=[g[0] for g in GOOD])
def test_good_lines(what: str, line: str, destination: str, day: str) -> None:
    (row,) = check((HEAD + line + "\n").encode()).rows
    assert row.pseudonym == p(A) and row.destination == destination and row.expected.isoformat() == day
    assert row.id_masked == idnumber.mask(A)


BAD = [  # (what, line, a word of the error)
    ("wrong check character", f"{WRONG_CHECK},甲乙,,,420102,{DAY}", "check character"),
    ("not an ID number", f"hello,甲乙,,,420102,{DAY}", "ID number"),
    ("no name", f"{A},,,,420102,{DAY}", "name"),
    ("a destination of 5 digits", f"{A},甲乙,,,42010,{DAY}", "destination"),
    ("a destination in words", f"{A},甲乙,,,江岸区,{DAY}", "destination"),
    ("an origin that is no code", f"{A},甲乙,,武汉,420102,{DAY}", "origin"),
    ("no day", f"{A},甲乙,,,420102,", "expected day"),
    ("a day that is none", f"{A},甲乙,,,420102,2026-02-30", "expected day"),
    ("long past", f"{A},甲乙,,,420102,{(TODAY - timedelta(days=30)).isoformat()}", "too long ago"),
    ("years ahead", f"{A},甲乙,,,420102,{(TODAY + timedelta(days=800)).isoformat()}", "year ahead"),
    ("a plate too long", f"{A},甲乙,{'X' * 20},,420102,{DAY}", "plate"),
]


@pytest.mark.parametrize(("what", "line", "word"), BAD, ids=[b[0] for b in BAD])
def test_bad_lines_say_why_and_never_show_the_number(what: str, line: str, word: str) -> None:
    checked = check((HEAD + f"{B},丙,,,420102,{DAY}\n" + line + "\n").encode())
    ((number, why),) = checked.errors
    assert number == 3 and word in why
    assert A not in why and WRONG_CHECK not in why


def test_the_same_person_twice_names_the_first_line() -> None:
    checked = check((HEAD + f"{A},甲,,,420102,{DAY}\n{B},乙,,,420102,{DAY}\n{A},甲,,,420102001,{DAY}\n").encode())
    ((line, why),) = checked.errors
    assert line == 4 and "the same as line 2" in why


def test_a_destination_outside_the_tree_is_refused_when_there_is_one() -> None:
    line = f"{A},甲乙,,,420103,{DAY}\n"
    assert check((HEAD + line).encode()).errors == []
    ((_, why),) = check((HEAD + line).encode(), places=TREE).errors
    assert "not a place" in why


FILES = [  # (what, data, a word of the error)
    ("empty", b"", "empty"),
    ("a picture", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "not a spreadsheet"),
    ("an old .xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), ".xls"),
    ("a ZIP that is no workbook", b"PK\x03\x04" + bytes(100), "not a spreadsheet"),
    ("a column missing", "身份证号,姓名,目的地\n".encode(), "expected"),
    ("only some other table", "编号,备注\n1,2\n".encode(), "id_number"),
]


@pytest.mark.parametrize(("what", "data", "word"), FILES, ids=[f[0] for f in FILES])
def test_files_that_are_no_list_are_refused_whole(what: str, data: bytes, word: str) -> None:
    with pytest.raises(sheets.SheetError, match=word):
        sheets.read(data, registrations.COLUMNS)


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_reading_an_xlsx_says_how_far_it_is() -> None:
    data = xlsx([["身份证号", "姓名", "目的地", "预计到达日期"], *([n, "甲", "420102", DAY] for n in people(2100))])
    heard: list[tuple[int, int]] = []
    assert len(sheets.read(data, registrations.COLUMNS, lambda n, total: heard.append((n, total))).lines) == 2100
    assert heard == [(1000, 2101), (2000, 2101)]


def test_an_xlsx_from_a_spreadsheet_program_with_date_cells_and_gb18030_csv() -> None:
    day = TODAY + timedelta(days=2)
    data = xlsx([["身份证号码", "姓名", "车牌号", "出发地", "目的地代码", "到达日期"],
                 [A, "甲乙", "鄂A 12345", 420100, 420102001003, datetime(day.year, day.month, day.day)]])
    (row,) = check(data).rows
    assert (row.destination, row.expected, row.plate, row.origin) == ("420102001003", day, "鄂A12345", "420100")
    (row,) = check((HEAD + f"{A},甲乙,,,420102,{DAY}\n").encode("gb18030")).rows
    assert row.pseudonym == p(A)


# over the API, with the real broker


@pytest.fixture
def office(sqlite_store: Store, broker: Broker) -> Iterator[Server]:
    """Central with a small tree: a county admin, and an admin of one of its communities."""
    add_places(sqlite_store, {**TREE, "420102002": "二七街道"})
    accounts = Accounts(sqlite_store.engine)
    accounts.add("admin", PASSWORD, Role.ADMIN)
    accounts.add("county", PASSWORD, Role.ADMIN, region="420102")
    accounts.add("street", PASSWORD, Role.ADMIN, region="420102002")
    accounts.add("viewer", PASSWORD, Role.VIEWER)
    with Server(settings_for(broker), sqlite_store) as s:
        yield s


def _retained(broker: Broker) -> RegistrationsPush | None:
    with mqtt.collect(broker, topics.broadcast("registrations")) as got:
        try:
            return RegistrationsPush.model_validate_json(got.get(timeout=1).payload)
        except Exception:  # noqa: BLE001 - the queue's Empty: nothing retained
            return None


def entry(number: str, destination: str = "420102001003", day: str = DAY) -> dict[str, str]:
    return {"id_number": number, "name": "甲乙", "plate": "鄂A12345", "origin": "420100", "destination": destination,
            "expected": day}


def test_one_bad_entry_and_nothing_is_imported_nor_pushed(office: Server, broker: Broker) -> None:
    admin = office.login("admin")
    answer = admin.post("/api/registrations", json={"entries": [entry(A), entry(WRONG_CHECK), entry(B, "999999")]})
    assert answer.status_code == 422
    errors = answer.json()["detail"]["errors"]
    assert [e["line"] for e in errors] == [2, 3] and "check character" in errors[0]["error"]
    assert WRONG_CHECK not in answer.text
    assert admin.get("/api/registrations").json() == []
    assert _retained(broker) is None


def test_an_import_is_pushed_to_every_box_and_a_second_one_adds_to_it(office: Server, broker: Broker) -> None:
    county = office.login("county")
    first = county.post("/api/registrations", json={"entries": [entry(A)]}).json()
    assert (first["added"], first["replaced"], first["pushed"]) == (1, 0, 1)
    again = county.post("/api/registrations", json={"entries": [entry(A, "420102002"), entry(B)]}).json()
    assert (again["added"], again["replaced"], again["pushed"]) == (1, 1, 2)
    push = _retained(broker)
    assert push is not None and push.version == again["version"]
    assert set(push.people()) == {p(A), p(B)} and push.people()[p(A)].destination == "420102002"
    assert push.places == {"420102002": "二七街道", "420102001003": "天声街社区"}
    assert A not in push.model_dump_json() and "甲乙" not in push.model_dump_json()
    listed = county.get("/api/registrations").json()
    assert {r["id_masked"] for r in listed} == {idnumber.mask(A), idnumber.mask(B)}


def test_an_office_registers_travellers_to_its_own_area_only(office: Server) -> None:
    street = office.login("street")
    refused = street.post("/api/registrations", json={"entries": [entry(A, "420102001003")]})
    assert refused.status_code == 422 and "not a place" in refused.text
    assert street.post("/api/registrations", json={"entries": [entry(A, "420102002")]}).status_code == 200
    assert office.login("county").post("/api/registrations", json={"entries": [entry(B)]}).status_code == 200
    assert [r["destination"] for r in street.get("/api/registrations").json()] == ["420102002"]
    assert len(office.login("county").get("/api/registrations").json()) == 2


def test_the_page_gets_progress_then_the_outcome(office: Server, broker: Broker) -> None:
    lines = "".join(f"{n},甲乙,,,420102001003,{DAY}\n" for n in people(2500))
    answer = office.login("admin").post("/api/registrations/file", params={"progress": True},
                                        files={"file": ("list.csv", (HEAD + lines).encode(), "text/csv")})
    events = [json.loads(line) for line in answer.text.splitlines()]
    assert events[0] == {"reading": len((HEAD + lines).encode())}
    assert [(e["read"], e["total"]) for e in events if "read" in e] == [(1000, 2501), (2000, 2501)]
    assert [e["checked"] for e in events if "checked" in e] == [1000, 2000, 2500]
    assert events[-1]["done"]["added"] == 2500
    push = _retained(broker)
    assert push is not None and len(push.people()) == 2500


def test_a_bad_file_over_the_stream_says_why_per_line(office: Server) -> None:
    data = (HEAD + f"{A},甲乙,,,420102,{DAY}\n{WRONG_CHECK},丙,,,420102,{DAY}\n").encode()
    answer = office.login("admin").post("/api/registrations/file", params={"progress": True},
                                        files={"file": ("list.csv", data, "text/csv")})
    last = json.loads(answer.text.splitlines()[-1])
    assert last["errors"][0]["line"] == 3 and "check character" in last["errors"][0]["error"]
    picture = office.login("admin").post("/api/registrations/file", files={"file": ("x.csv", b"\x89PNG\x00" * 9)})
    assert picture.status_code == 422 and "not a spreadsheet" in picture.json()["detail"]["error"]


def test_a_viewer_may_read_but_not_import(office: Server) -> None:
    viewer = office.login("viewer")
    assert viewer.get("/api/registrations").status_code == 200
    assert viewer.post("/api/registrations", json={"entries": [entry(A)]}).status_code == 403


@pytest.mark.slow
def test_a_100000_line_file(office: Server, broker: Broker) -> None:
    lines = "".join(f"{n},甲乙,,,420102001003,{DAY}\n" for n in people(100_000))
    answer = office.login("admin").post("/api/registrations/file",
                                        files={"file": ("big.csv", (HEAD + lines).encode(), "text/csv")}, timeout=300)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.json()["pushed"] == 100_000
    push = _retained(broker)
    assert push is not None and len(push.people()) == 100_000


def test_what_counts_is_pushed_and_what_no_longer_counts_is_not(sqlite_store: Store) -> None:
    rows = [registrations.parse_line({"id_number": n, "name": "甲", "destination": "420102", "expected": d}, RULES)
            for n, d in ((A, DAY), (B, (TODAY - timedelta(days=3)).isoformat()))]
    with sqlite_store.engine.begin() as conn:
        registrations.save(conn, rows, "v1", "admin", datetime.now())
        later, count = registrations.push_message(conn, "v2", datetime.now(), TODAY + timedelta(days=1),
                                                  RegistrationSettings())
        listed = registrations.listing(conn, WHOLE, TODAY - timedelta(days=3))
    assert set(later.people()) == {p(A)} and count == 1 and len(listed) == 2
    registration = later.people()[p(A)]
    assert later.counts(registration, TODAY) and not later.counts(registration, TODAY - timedelta(days=1))
    assert later.counts(registration, TODAY + timedelta(days=4))
    assert not later.counts(registration, TODAY + timedelta(days=5))


@pytest.mark.postgres
def test_two_imports_at_once_each_push_what_the_other_committed(pg_url: str) -> None:
    """Two offices import at the same moment on two replicas: the later push holds both lists (the
    imports take turns), so no box is left with only one of them."""
    store = Store(pg_url)
    store.migrate()
    first = [registrations.parse_line({"id_number": A, "name": "甲", "destination": "420102", "expected": DAY}, RULES)]
    second = [registrations.parse_line({"id_number": B, "name": "乙", "destination": "420102", "expected": DAY},
                                       RULES)]
    seen: list[set[str]] = []
    holding = threading.Event()

    def other() -> None:
        holding.wait(10)
        with store.engine.begin() as conn:
            registrations.save(conn, second, "v2", "b", datetime.now())  # waits for the first import's commit
            message, _ = registrations.push_message(conn, "v2", datetime.now(), TODAY, RegistrationSettings())
            seen.append(set(message.people()))

    thread = threading.Thread(target=other)
    thread.start()
    with store.engine.begin() as conn:
        registrations.save(conn, first, "v1", "a", datetime.now())
        holding.set()
        waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        with store.engine.connect() as watch:  # the other import waits for this one to end
            mqtt.wait_until(lambda: watch.scalar(waiting), what="the second import to wait for the first")
        assert not seen
    thread.join(10)
    store.dispose()
    assert seen == [{p(A), p(B)}]

"""The daily report of a jurisdiction: each checkpoint's day, rolled up the tree; obligations by the office
that owes them; only the user's subtree, over the API, as XLSX (formulas neutralised) and on the page."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from central import report
from central.auth import Accounts, Role
from central.obligations import mark_overdue
from central.regions import ROOT, WHOLE, scope_of
from central.schema import regions
from central.store import Store
from contract.messages import Reason
from tests.central.conftest import PASSWORD, Server, db_url, settings_for
from tests.central.obligation_helpers import (
    COMMUNITY,
    COUNTY,
    DEADLINES,
    OTHER_COUNTY,
    POLICY,
    TOWN,
    batch,
    owed,
    plant,
    traveller,
)

ZONE = ZoneInfo("Asia/Shanghai")
DAY = datetime.now(ZONE).date()  # today: central stamps what it closes with its own clock
AT = datetime.combine(DAY, time(9), tzinfo=ZONE).astimezone(UTC)
HOSTILE = "=HYPERLINK(\"http://example.invalid\",\"x\")"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The tree of the obligation tests, and one day at its checkpoints: at the county's checkpoint a
    red code (a transfer, gone overdue), a yellow code going to the community (a test owed there), an
    unregistered outsider going there too (a registration owed there, closed when they arrive at the
    community's gate) and a green code; a yellow code at the other county's checkpoint."""
    s = Store(db_url(request, tmp_path, request.param), alert_urls=POLICY.alert_urls, deadlines=DEADLINES)
    s.migrate()
    plant(s)
    s.write_batch(batch(
        traveller(1, 1, "red", at=AT),
        traveller(2, 2, "yellow", destination=COMMUNITY, at=AT),
        traveller(3, 3, "outsider", destination=COMMUNITY, at=AT),
        traveller(4, 4, "green", at=AT),
        traveller(5, 5, "yellow", device="box-b", at=AT),
    ))
    s.write_batch(batch(traveller(6, 3, "green", device="gate-box", at=AT)))
    transfer = next(o for o in owed(s) if o["kind"] == "isolation_transfer")
    assert mark_overdue(s.engine, POLICY, transfer["deadline"]) == 1
    yield s
    s.dispose()


def lines(store: Store, code: str = ROOT) -> dict[tuple[str, str | None], dict[str, Any]]:
    with store.engine.connect() as conn:
        scope = WHOLE if code == ROOT else scope_of(conn, code)
        return {(r["code"], r["site"]): r for r in report.rows(report.daily(conn, scope, DAY, ZONE))}


def pick(row: dict[str, Any], *keys: str) -> tuple[Any, ...]:
    return tuple(row[k] for k in keys)


AT_SITES = ("passages", "flagged", "code_red", "code_yellow", "out_of_province", "transfers")
OWED = ("opened", "done", "overdue", "waived")


def test_each_checkpoint_and_each_office_rolled_up(store: Store) -> None:
    got = lines(store)
    assert pick(got[(COUNTY, "site-a")], *AT_SITES, *OWED) == (4, 2, 1, 1, 0, 1, None, None, None, None)
    assert pick(got[(OTHER_COUNTY, "site-b")], *AT_SITES) == (1, 1, 0, 1, 0, 0)
    assert pick(got[(COMMUNITY, "gate")], *AT_SITES) == (1, 0, 0, 0, 0, 0)
    assert pick(got[(COMMUNITY, None)], *AT_SITES, *OWED) == (1, 0, 0, 0, 0, 0, 2, 1, 0, 0)
    assert pick(got[(TOWN, None)], *AT_SITES, *OWED) == (1, 0, 0, 0, 0, 0, 2, 1, 0, 0)
    assert pick(got[(COUNTY, None)], *AT_SITES, *OWED) == (5, 2, 1, 1, 0, 1, 3, 1, 1, 0)  # with the transfer
    assert pick(got[(OTHER_COUNTY, None)], *AT_SITES, *OWED) == (1, 1, 0, 1, 0, 0, 1, 0, 0, 0)
    assert pick(got[(ROOT, None)], *AT_SITES, *OWED) == (6, 3, 1, 2, 0, 1, 4, 1, 1, 0)
    order = [(r["code"], r["site"]) for r in lines(store).values()]
    assert order.index((COUNTY, None)) < order.index((COUNTY, "site-a")) < order.index((TOWN, None))
    assert lines(store).keys() == got.keys()
    with store.engine.connect() as conn:
        other_day = report.rows(report.daily(conn, WHOLE, DAY + timedelta(days=1), ZONE))
    assert all(r["passages"] == 0 and not r["opened"] for r in other_day)


def test_reasons_the_report_does_not_name_count_under_other(store: Store) -> None:
    """A flagged verdict's reasons beyond the named ones (a forged code, a missing temperature) count
    under "other", each of them, as a verdict counts under each named reason it has."""
    red = traveller(7, 7, "red", at=AT)
    forged = red.model_copy(update={"seq": 8, "id": uuid.uuid4(),
                                    "reasons": [Reason.CODE_FORGED, Reason.MISSING_TEMP]})
    both = red.model_copy(update={"seq": 9, "id": uuid.uuid4(), "reasons": [Reason.CODE_RED, Reason.CODE_FORGED]})
    store.write_batch(batch(forged, both))
    got = lines(store)
    assert pick(got[(COUNTY, "site-a")], "flagged", "code_red", "other") == (4, 2, 3)
    assert pick(got[(OTHER_COUNTY, "site-b")], "other") == (0,)
    assert pick(got[(COUNTY, None)], "flagged", "code_red", "other") == (4, 2, 3)
    assert pick(got[(ROOT, None)], "flagged", "other") == (5, 3)


def test_an_office_sees_its_subtree_only(store: Store) -> None:
    township = lines(store, TOWN)
    assert set(township) == {(TOWN, None), (COMMUNITY, None), (COMMUNITY, "gate")}
    assert township[(TOWN, None)]["depth"] == 0 and township[(COMMUNITY, "gate")]["depth"] == 2
    sibling = lines(store, OTHER_COUNTY)
    assert set(sibling) == {(OTHER_COUNTY, None), (OTHER_COUNTY, "site-b")}
    assert pick(sibling[(OTHER_COUNTY, None)], "passages", "opened") == (1, 1)


@pytest.fixture
def office(store: Store) -> Iterator[Server]:
    with store.engine.begin() as conn:
        conn.execute(update(regions).where(regions.c.code == OTHER_COUNTY).values(name=HOSTILE))
    accounts = Accounts(store.engine)
    accounts.add("county", PASSWORD, Role.VIEWER, region=COUNTY)
    accounts.add("township", PASSWORD, Role.VIEWER, region=TOWN)
    accounts.add("other", PASSWORD, Role.VIEWER, region=OTHER_COUNTY)
    with Server(settings_for(None), store) as s:
        yield s


def test_the_api_the_file_and_the_page_keep_to_the_users_area(office: Server) -> None:
    township = office.login("township")
    answer = township.get("/api/reports/daily", params={"day": DAY.isoformat()}).json()
    assert answer["area"]["code"] == TOWN
    assert {(r["code"], r["site"]) for r in answer["rows"]} == {(TOWN, None), (COMMUNITY, None), (COMMUNITY, "gate")}
    page = township.get("/report", params={"day": DAY.isoformat()}).text
    assert "gate" in page and "site-a" not in page and "site-b" not in page
    county = office.login("county")
    xlsx = county.get(f"/api/exports/report.xlsx?day={DAY}")
    assert f'report-{COUNTY}-{DAY}.xlsx' in xlsx.headers["content-disposition"]
    sheet = [list(r) for r in load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True)]
    assert sheet[0][:4] == ["辖区", "卡口", "通行总数", "异常"]
    assert sheet[1][:4] == ["江岸区", None, 5, 2] and sheet[2][:4] == ["\u3000江岸区", "site-a", 4, 2]
    assert all("site-b" not in row for row in sheet)
    other = office.login("other")
    sheet = load_workbook(io.BytesIO(other.get(f"/api/exports/report.xlsx?day={DAY}").content)).active
    assert sheet["A2"].value == "'" + HOSTILE  # an office's name never reaches a spreadsheet as a formula
    assert sheet["A2"].data_type == "s"
    csv_text = other.get(f"/api/exports/report.csv?day={DAY}").content.decode("utf-8-sig")
    assert f"'{HOSTILE}".replace('"', '""') in csv_text

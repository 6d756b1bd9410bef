"""Test results close 落地检 by themselves: matched by pseudonym, unmatched lines kept and reported, the
same file twice a no-op, bad lines each with its error and nothing half-imported; from the command
line, the API (with its progress stream) and in the importer's area only."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from openpyxl import Workbook
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from central import results, retention, sheets
from central.auth import Accounts, Role
from central.config import RetentionSettings
from central.obligations import Policy
from central.schema import result_imports, test_results
from central.sql import now
from central.store import Store
from checkpoint.cli import app
from contract import idnumber
from tests.central.conftest import PASSWORD, PSEUDONYM_KEY, Server, db_url, settings_for, synthetic_id
from tests.central.obligation_helpers import COUNTY, DEADLINES, OTHER_COUNTY, batch, owed, plant, traveller
from tests.factories import DOWNLINK_SEED

ZONE = settings_for(None).zone
POLICY = Policy(DEADLINES)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = Store(db_url(request, tmp_path, request.param), deadlines=DEADLINES)
    s.migrate()
    plant(s)
    accounts = Accounts(s.engine)
    accounts.add("county", PASSWORD, Role.OPERATOR, COUNTY)
    accounts.add("other", PASSWORD, Role.OPERATOR, OTHER_COUNTY)
    accounts.add("reader", PASSWORD, Role.VIEWER, COUNTY)
    yield s
    s.dispose()


def _local(at: datetime) -> str:
    return at.astimezone(ZONE).strftime("%Y-%m-%d %H:%M")


def _file(*lines: tuple[str, str, str], header: str = "身份证号,采样时间,检测结果") -> bytes:
    return ("\n".join([header, *(",".join(line) for line in lines)]) + "\n").encode()


def _two_yellow(store: Store) -> tuple[str, str]:
    """Two yellow-code travellers owing 落地检 to the county; when each passed (local time, a minute later)."""
    store.write_batch(batch(traveller(1, 1, "yellow"), traveller(2, 2, "yellow")))
    passed = {r["pseudonym"]: r["opened_at"] for r in owed(store)}
    first, second = sorted(passed.values())
    return _local(first + timedelta(minutes=1)), _local(second - timedelta(hours=2))


def _import(store: Store, data: bytes, user: str = "county", name: str = "results.csv") -> results.Imported:
    who, scope = results.importer(store.engine, user)
    rows = results.check(data, PSEUDONYM_KEY, ZONE)
    return results.store(store.engine, data, rows, name, who, scope, POLICY)


def test_a_result_closes_the_test_and_the_rest_is_reported_not_lost(store: Store) -> None:
    after, before = _two_yellow(store)
    data = _file((synthetic_id(seq=1), after, "阴性"),  # taken after passing: closes person 1's test
                 (synthetic_id(seq=2), before, "阴性"),  # taken before passing: not the test on arrival
                 (synthetic_id(seq=9), after, "阳性"))  # nobody owes a test for person 9
    outcome = _import(store, data)
    assert (outcome.lines, outcome.matched) == (3, 1)
    assert [(n, why.split(" / ")[1].split(" ")[0]) for n, _who, why in outcome.unmatched] == [(3, "no"), (4, "no")]
    assert outcome.unmatched[0][1] == idnumber.mask(synthetic_id(seq=2))
    done = [r for r in owed(store) if r["state"] == "done"]
    assert len(done) == 1 and done[0]["proof"] == "test_result"
    evidence = done[0]["evidence"]
    assert (evidence["result"], evidence["ref"]) == ("negative", f"results {outcome.import_id} line 2")
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(test_results)) == 3  # every line kept, matched or not
        for table in ("test_results", "result_imports", "obligations", "case_events", "audit_log"):
            dump = json.dumps([list(map(str, r)) for r in conn.execute(text(f"SELECT * FROM {table}"))])
            assert synthetic_id(seq=9) not in dump and synthetic_id(seq=1) not in dump
    again = _import(store, data)
    assert again.already.startswith("results.csv") and again.matched == 1
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(test_results)) == 3
        assert conn.scalar(select(func.count()).select_from(result_imports)) == 1


def test_the_same_sample_in_another_file_counts_once(store: Store) -> None:
    after, _before = _two_yellow(store)
    _import(store, _file((synthetic_id(seq=1), after, "阴性")))
    second = _import(store, _file((synthetic_id(seq=1), after, "阴性"), (synthetic_id(seq=2), after, "阴性")),
                     name="later.csv")
    assert second.matched == 1 and second.unmatched[0][2].endswith("already imported from an earlier file")


def test_an_xlsx_with_real_dates_closes_too(store: Store) -> None:
    after, _before = _two_yellow(store)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "身份证号", "采样时间", "检测结果"])
    sheet.append(["测试1号", synthetic_id(seq=1), datetime.strptime(after, "%Y-%m-%d %H:%M"), "阴性"])
    out = io.BytesIO()
    book.save(out)
    assert _import(store, out.getvalue(), name="results.xlsx").matched == 1


def test_only_the_importers_area_is_closed(store: Store) -> None:
    after, _before = _two_yellow(store)
    outcome = _import(store, _file((synthetic_id(seq=1), after, "阴性")), user="other")
    assert outcome.matched == 0 and "in your area" in outcome.unmatched[0][2]
    assert {r["state"] for r in owed(store)} == {"open"}
    with pytest.raises(ValueError, match="needs an operator"):
        results.importer(store.engine, "reader")


BAD_FILES = [
    ("a wrong check character", _file((synthetic_id(seq=1)[:-1] + "0", "2026-11-30 08:15", "阴性")), 2, "ID number"),
    ("a time that is no time", _file((synthetic_id(seq=1), "yesterday", "阴性")), 2, "sample time"),
    ("a date without the time", _file((synthetic_id(seq=1), "2026-11-30", "阴性")), 2, "sample time"),
    ("a result that is neither", _file((synthetic_id(seq=1), "2026-11-30 08:15", "待定")), 2, "result"),
    ("one sample twice", _file((synthetic_id(seq=1), "2026-11-30 08:15", "阴性"),
                               (synthetic_id(seq=1), "2026-11-30 08:15", "阴性")), 3, "the same as line 2"),
]


@pytest.mark.parametrize(("data", "line", "says"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES])
def test_each_bad_line_is_reported_and_nothing_imported(store: Store, data: bytes, line: int, says: str) -> None:
    good = (synthetic_id(seq=2), "2026-11-30 09:00", "阴性")
    with pytest.raises(sheets.BadLines) as bad:
        results.check(data.rstrip(b"\n") + ("\n" + ",".join(good) + "\n").encode(), PSEUDONYM_KEY, ZONE)
    assert [(n, says in why) for n, why in bad.value.errors] == [(line, True)]
    assert synthetic_id(seq=1) not in str(bad.value.errors)


@pytest.mark.parametrize(("data", "says"), [
    (_file((synthetic_id(seq=1), "2026-11-30 08:15", "阴性"), header="身份证号,结果"), "no column sampled_at"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a spreadsheet"),
    (b"PK\x03\x04 not really a workbook", "not a spreadsheet"),
    (b"", "empty"),
    (_file(), "no results"),
])
def test_a_file_that_is_no_table_of_results(data: bytes, says: str) -> None:
    with pytest.raises(sheets.SheetError, match=says):
        results.check(data, PSEUDONYM_KEY, ZONE)


def test_the_api_streams_progress_then_the_outcome(store: Store) -> None:
    after, _before = _two_yellow(store)
    data = _file((synthetic_id(seq=1), after, "阴性"), (synthetic_id(seq=9), after, "阴性"))
    with Server(settings_for(None), store) as server:
        county = server.login("county")
        answer = county.post("/api/results/file?progress=true", files={"file": ("r.csv", data, "text/csv")})
        events = [json.loads(line) for line in answer.text.splitlines()]
        assert events[0] == {"reading": len(data)} and {"checked": 2, "total": 2} in events
        done = events[-1]["done"]
        assert (done["lines"], done["matched"], [u["line"] for u in done["unmatched"]]) == (2, 1, [3])
        assert done["message"] == "已导入 2 · 已办结落地检 1 · 未匹配 1"
        bad = county.post("/api/results/file", files={"file": ("r.csv", b"\x00\x01", "text/csv")})
        assert bad.status_code == 422 and "not a spreadsheet" in bad.json()["detail"]["error"]
        assert server.login("reader").post("/api/results/file", files={"file": ("r.csv", data)}).status_code == 403


def test_from_the_command_line_with_a_progress_bar(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'central.sqlite'}"
    store = Store(url, deadlines=DEADLINES)
    store.migrate()
    plant(store)
    Accounts(store.engine).add("county", PASSWORD, Role.OPERATOR, COUNTY)
    after, _before = _two_yellow(store)
    config = tmp_path / "central.yaml"
    config.write_text(yaml.safe_dump({"database_url": url, "pseudonym_key": PSEUDONYM_KEY.hex(),
                                      "downlink_key": DOWNLINK_SEED}))
    good = tmp_path / "results.csv"
    good.write_bytes(_file((synthetic_id(seq=1), after, "阴性"), (synthetic_id(seq=9), after, "阴性")))
    runner = CliRunner()
    central = ["central", "--config", str(config), "import-results"]
    done = runner.invoke(app, [*central, str(good), "--as", "county"])
    assert done.exit_code == 0, done.output
    assert "2 lines imported, 1 tests on arrival closed, 1 unmatched" in done.output and "line 3" in done.output
    assert "already imported" in runner.invoke(app, [*central, str(good), "--as", "county"]).output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(_file((synthetic_id(seq=1), "soon", "阴性")))
    refused = runner.invoke(app, [*central, str(bad), "--as", "county"])
    assert refused.exit_code == 2 and "line 2: 采样时间 'soon'" in refused.output
    assert runner.invoke(app, [*central, str(good), "--as", "nobody"]).exit_code == 2
    assert [r["state"] for r in owed(store)].count("done") == 1
    store.dispose()


def test_results_go_with_the_verdicts_retention(store: Store) -> None:
    after, _before = _two_yellow(store)
    _import(store, _file((synthetic_id(seq=1), after, "阴性"), (synthetic_id(seq=9), after, "阴性")))
    settings = RetentionSettings(verdict_days=30)
    assert retention.purge(store.engine, settings)["test_results"] == 0
    assert retention.purge(store.engine, settings, at=now() + timedelta(days=31))["test_results"] == 2
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(test_results)) == 0
        assert conn.scalar(select(func.count()).select_from(result_imports)) == 1  # the file is still known

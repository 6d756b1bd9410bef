"""Exports never hand a spreadsheet a formula: whatever a kiosk or an operator typed (destinations,
plates, masked IDs, transfer destinations, assignees) leaves central as text, in every CSV and XLSX
export the API publishes. Real server, SQLite and PostgreSQL, the files opened as the office does."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook
from sqlalchemy import update

from central.schema import cases, verdicts
from central.store import Store
from contract.messages import TravelInput
from tests.central.conftest import Server, flagged, rows
from tests.central.conftest import any_server as any_server  # fixtures shared with the central tests
from tests.central.conftest import cheap_password_hashes as cheap_password_hashes
from tests.central.conftest import store as store

DESTINATION = '=HYPERLINK("http://evil.example/x","点此查看")'
PLATE = "@SUM(1+1)*cmd"
MASKED = "-2+3+cmd|' /C calc'!A0"
TRANSFER_TO = "+1+1"
ASSIGNEE = "＝1+1"  # full-width, as a Chinese input method types it
TYPED = (DESTINATION, PLATE, MASKED, TRANSFER_TO, ASSIGNEE)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")  # what a spreadsheet evaluates


def _cells(fmt: str, body: bytes) -> list[object]:
    if fmt == "csv":
        return [c for row in csv.reader(io.StringIO(body.decode("utf-8-sig"))) for c in row]
    sheet = load_workbook(io.BytesIO(body)).active
    found = []
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", f"a formula in the XLSX: {cell.coordinate} {cell.value!r}"
            found.append(cell.value)
    return found


def test_every_export_writes_typed_formulas_as_text(any_server: Server, store: Store) -> None:
    red = flagged(7, person=22)
    travel = TravelInput(plate=PLATE, destination=DESTINATION)
    hostile = red.model_copy(update={"inputs": red.inputs.model_copy(update={"travel": travel})})
    store.write_batch(rows(hostile))
    with store.engine.begin() as conn:  # stored by an older box or version: exports must still be safe
        conn.execute(update(verdicts).where(verdicts.c.id == str(hostile.id)).values(id_masked=MASKED))
        conn.execute(update(cases).where(cases.c.destination == DESTINATION).values(id_masked=MASKED))
    operator = any_server.login("operator")
    case_id = next(c["id"] for c in operator.get("/api/cases").json() if c["destination"] == DESTINATION)
    for step in ({"action": "assign", "assignee": ASSIGNEE},
                 {"action": "transfer", "transfer_kind": "fever_clinic", "transfer_to": TRANSFER_TO}):
        assert operator.post(f"/api/cases/{case_id}/actions", json=step).status_code == 204
    day = operator.get("/api/figures/daily").json()[-1]["day"]

    exports = [p for p in operator.get("/openapi.json").json()["paths"] if p.startswith("/api/exports/")
               and "{fmt}" in p]
    assert len(exports) >= 4
    seen: set[str] = set()
    for path in exports:
        for fmt in ("csv", "xlsx"):
            url, params = path.replace("{fmt}", fmt), {"site": "site-a", "day": day, "first": day, "last": day}
            answer = operator.get(url, params=params)
            assert answer.status_code == 200, (path, fmt, answer.text[:200])
            job = operator.get(url, params=params, headers={"Prefer": "respond-async"})  # as the pages ask
            bodies = [answer.content]
            if job.status_code == 202:  # a ledger is always sent at once
                assert job.json()["state"] == "done"  # the same export, just built: that job
                bodies.append(operator.get(job.json()["download"]).content)
            for body in bodies:
                for cell in _cells(fmt, body):
                    if isinstance(cell, str):
                        assert not cell.startswith(FORMULA_STARTS), f"{path} {fmt}: {cell!r}"
                        seen |= {t for t in TYPED if cell == "'" + t}
    assert seen == set(TYPED)  # each typed text was exported, quoted

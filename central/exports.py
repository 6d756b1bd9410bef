"""Exports the office files and forwards: the ledger of a checkpoint's day, daily figures, cases.

A table is a list of columns (a header key translated by central.i18n, and how to get the cell
from a row) and rows; it is written as CSV (UTF-8 with a BOM, which is what Excel in a Chinese
locale needs to show the characters) or as an XLSX sheet (openpyxl). Only masked identities are
ever exported.

Every text cell passes through `neutral` on its way out: what a box or an operator typed (a
destination, a plate, a transfer destination, an assignee) must never reach a spreadsheet as a
formula. A text that a spreadsheet would read as one (it starts with = + - @, a tab or a carriage
return, or their full-width forms) gets a leading apostrophe, so it is shown as the text it is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from openpyxl import Workbook

from central.i18n import tr
from central.sql import aware

Cell = str | int | float | None
Column = tuple[str, Callable[[Mapping[str, Any]], Cell]]
Progress = Callable[[int, int], None]  # (rows written, rows in all)
PROGRESS_ROWS = 1000
# what makes Excel, LibreOffice or WPS read a cell as a formula (OWASP's list, and the full-width
# forms an input method may type)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def neutral(cell: Cell) -> Cell:
    """The cell as a spreadsheet shows it as text: a text that would start a formula is quoted."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def _local(zone: tzinfo) -> Callable[[datetime | None], str]:
    return lambda at: aware(at).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if at else ""


def _words(lang: str, codes: Sequence[str] | None) -> str:
    return "、".join(tr(lang, c) for c in codes or ())


def ledger_columns(lang: str, zone: tzinfo) -> list[Column]:
    local = _local(zone)
    return [
        ("time", lambda r: local(r["device_time"])),
        ("device", lambda r: r["device"]),
        ("person", lambda r: r["id_masked"] or ""),
        ("plate", lambda r: r["plate"] or ""),
        ("origin", lambda r: r["origin"] or ""),
        ("destination", lambda r: r["destination"] or ""),
        ("temperature", lambda r: r["body_c"]),
        ("code", lambda r: tr(lang, r["colour"]) if r["colour"] else ""),
        ("verdict", lambda r: tr(lang, r["decision"])),
        ("reasons", lambda r: _words(lang, r["reasons"])),
        ("follow_up", lambda r: _words(lang, r["follow_up"])),
        ("case", lambda r: r["case_id"]),
    ]


def figure_columns(lang: str) -> list[Column]:
    names = ("total", "passed", "review", "deny", "fever", "code_yellow", "code_red", "watchlist", "overridden")
    return [("day", lambda r: r["day"].isoformat()), ("site", lambda r: r["site"])] + [
        (n, (lambda r, n=n: r[n])) for n in names  # type: ignore[misc]
    ]


def case_columns(lang: str, zone: tzinfo) -> list[Column]:
    local = _local(zone)
    return [
        ("case", lambda r: r["id"]),
        ("status", lambda r: tr(lang, r["status"])),
        ("severity", lambda r: tr(lang, r["severity"])),
        ("person", lambda r: r["id_masked"] or ""),
        ("reasons", lambda r: _words(lang, r["reasons"])),
        ("first_seen", lambda r: local(r["first_seen"])),
        ("first_site", lambda r: r["first_site"]),
        ("last_seen", lambda r: local(r["last_seen"])),
        ("passages", lambda r: r["verdicts"]),
        ("plate", lambda r: r["plate"] or ""),
        ("origin", lambda r: r["origin"] or ""),
        ("destination", lambda r: r["destination"] or ""),
        ("transfer", lambda r: tr(lang, r["transfer_kind"]) if r["transfer_kind"] else ""),
        ("transfer_to", lambda r: r["transfer_to"] or ""),
        ("assignee", lambda r: r["assignee"] or ""),
        ("opened_at", lambda r: local(r["opened_at"])),
    ]


def table(lang: str, columns: list[Column], rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Cell]]]:
    return [tr(lang, key) for key, _ in columns], [[get(r) for _, get in columns] for r in rows]


def _counted(rows: list[list[Cell]], progress: Progress) -> Iterator[list[Cell]]:
    """The rows, saying every PROGRESS_ROWS how many have been written."""
    for n, row in enumerate(rows):
        if n % PROGRESS_ROWS == 0:
            progress(n, len(rows))
        yield row
    progress(len(rows), len(rows))


def to_csv(headers: list[str], rows: list[list[Cell]], progress: Progress = lambda _done, _total: None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutral(h) for h in headers])
    writer.writerows([neutral(c) for c in row] for row in _counted(rows, progress))
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(title: str, headers: list[str], rows: list[list[Cell]],
            progress: Progress = lambda _done, _total: None) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append([neutral(h) for h in headers])
    for row in _counted(rows, progress):
        sheet.append([neutral(c) for c in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

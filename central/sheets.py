"""Reading an office's table (CSV or XLSX) into checked rows: one clear error per bad line, all or nothing.

Offices keep their lists in spreadsheets and send them as XLSX or as CSV saved from one (UTF-8 with
or without a BOM, or GB18030). `read` finds the columns by their headers (Chinese or English
names), and `check` runs each line through the importer's own parser: every bad line is reported
with its line number and why, and the importer stores nothing unless no line was bad. Progress is
reported as lines are checked, for the page's progress bar on a 100,000-line file.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Generic, TypeVar

from openpyxl import load_workbook

from contract.idnumber import InvalidIdNumber, mask, normalise

T = TypeVar("T")
MAX_LINES = 200_000
PROGRESS_EVERY = 1000


class SheetError(ValueError):
    """The file as a whole cannot be read: not a spreadsheet, a column missing, too long."""


class LineError(ValueError):
    """One line is wrong; the message says why (with any ID number masked)."""


class BadLines(ValueError):
    """Lines of an imported table are wrong, and nothing was imported. `errors`: (line, why) for each."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        super().__init__(f"{len(errors)} 行有误，整份未导入 / {len(errors)} bad lines: nothing imported")
        self.errors = errors

    def answer(self) -> dict[str, object]:
        """What the office's web answers: the refusal, and each bad line with why."""
        return {"error": str(self), "errors": [{"line": n, "error": why} for n, why in self.errors]}


@dataclass(frozen=True)
class Column:
    key: str
    headers: frozenset[str]  # what offices call it, compared lower-case without spaces
    required: bool = True


@dataclass
class Sheet:
    """The lines of a table, each a mapping of column key to the cell's text ("" when empty)."""

    lines: list[tuple[int, dict[str, str]]]  # (line number as the office's program shows it, cells)


@dataclass
class Checked(Generic[T]):
    rows: list[T] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, why)


def decode(data: bytes) -> str:
    """Text from a spreadsheet program: UTF-8 (with or without a BOM), else GB18030."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def id_number(cells: Mapping[str, str]) -> str:
    """The line's ID number (column `id_number`), normalised; LineError, the number masked, when it is
    missing or wrong: every import of people checks them the same way."""
    raw = cells.get("id_number", "")
    if not raw:
        raise LineError("缺少身份证号 / no ID number")
    try:
        return normalise(raw)
    except InvalidIdNumber as exc:
        raise LineError(f"身份证号 {mask(raw)} 无效 / ID number {mask(raw)}: {exc}") from None


def column(key: str, *headers: str, required: bool = True) -> Column:
    return Column(key, frozenset(_header(h) for h in (key, *headers)), required)


def _header(text: str) -> str:
    return "".join(text.split()).lower().lstrip("\ufeff")


def read(data: bytes, columns: Sequence[Column], progress: Callable[[int, int], None] = lambda _n, _total: None
         ) -> Sheet:
    """The file's lines by column; SheetError when it is not a table with these columns. `progress`
    hears (lines read, lines in the file as far as it says) as reading goes: an XLSX of 100,000 lines
    takes openpyxl some 20 s."""
    if not data.strip():
        raise SheetError("文件为空 / the file is empty")
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise SheetError("旧版 Excel（.xls）文件，请另存为 .xlsx 或 CSV / "
                         "an old Excel (.xls) workbook: save it as .xlsx or CSV")
    total, table = _xlsx(data) if data.startswith(b"PK\x03\x04") else _csv(data)
    header = next(table, None)
    if header is None:
        raise SheetError("文件为空 / the file is empty")
    at: dict[str, int] = {}
    heads = [_header(h) for h in header]
    for col in columns:
        found = [i for i, h in enumerate(heads) if h in col.headers]
        if found:
            at[col.key] = found[0]
        elif col.required:
            names = "、".join(sorted(col.headers))
            raise SheetError(f"第一行缺少列 {names} / "
                             f"no column {col.key} (a header named one of: {names}) in the first line")
    lines: list[tuple[int, dict[str, str]]] = []
    for number, row in enumerate(table, start=2):
        if number % PROGRESS_EVERY == 0:
            progress(number, max(total, number))
        if not any(c.strip() for c in row):
            continue
        if len(lines) >= MAX_LINES:
            raise SheetError(f"超过 {MAX_LINES} 行，请拆分文件 / more than {MAX_LINES} lines: split the file")
        lines.append((number, {key: (row[i].strip() if i < len(row) else "") for key, i in at.items()}))
    return Sheet(lines)


def _csv(data: bytes) -> tuple[int, Iterator[list[str]]]:
    """About how many lines, and the rows."""
    if b"\x00" in data[:4096]:
        raise SheetError("不是表格文件 / not a spreadsheet: neither an XLSX workbook nor CSV text")
    text = decode(data)
    if "\ufffd" in text[:4096]:
        raise SheetError("不是表格文件 / not a spreadsheet: neither an XLSX workbook nor CSV text (UTF-8 or GB18030)")

    def rows() -> Iterator[list[str]]:
        try:
            yield from csv.reader(io.StringIO(text, newline=""))
        except csv.Error as exc:
            raise SheetError(f"CSV 无法读取 / not readable as CSV: {exc}") from None

    return text.count("\n"), rows()


def _xlsx(data: bytes) -> tuple[int, Iterator[list[str]]]:
    """The first sheet's size as the workbook states it (0 if it does not), and its rows."""
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, IndexError) as exc:
        raise SheetError(f"不是表格文件 / not a spreadsheet: a ZIP file that is not an XLSX workbook ({exc})") from None

    def rows() -> Iterator[list[str]]:
        try:
            for row in sheet.iter_rows(values_only=True):
                yield [_cell(c) for c in row]
        finally:
            book.close()

    return sheet.max_row or 0, rows()


def _cell(value: object) -> str:
    """A cell as the office sees it: dates as dates, whole numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check(
    sheet: Sheet,
    parse: Callable[[dict[str, str]], T],
    key: Callable[[T], object] | None = None,
    progress: Callable[[int, int], None] = lambda _done, _total: None,
) -> Checked[T]:
    """Each line through `parse` (which raises LineError or ValueError); with `key`, a line that
    repeats an earlier line's key is an error that names the earlier line."""
    out: Checked[T] = Checked()
    seen: dict[object, int] = {}
    total = len(sheet.lines)
    for done, (line, cells) in enumerate(sheet.lines, start=1):
        try:
            row = parse(cells)
        except ValueError as exc:
            out.errors.append((line, str(exc)))
        else:
            k = key(row) if key else None
            if k is not None and k in seen:
                out.errors.append((line, f"与第 {seen[k]} 行重复 / the same as line {seen[k]}"))
            else:
                if k is not None:
                    seen[k] = line
                out.rows.append(row)
        if done % PROGRESS_EVERY == 0 or done == total:
            progress(done, total)
    return out

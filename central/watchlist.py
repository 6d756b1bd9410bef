"""The watch-list upload (协查名单): a CSV of ID numbers in, keyed pseudonyms out.

The office's file is usually exported from a spreadsheet: UTF-8 (with or without a BOM) or GB18030,
ID numbers in the first column or in a column headed 身份证号 / id_number. Every number is checked
(GB 11643) and normalised before it is keyed, so that the pseudonym equals the one a box computes
from the card; lines that are not valid numbers are reported (masked), not pushed. The ID numbers
themselves are never stored or sent: only the pseudonyms leave this function.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from central.sheets import decode
from contract.idnumber import InvalidIdNumber, mask, normalise, pseudonym

HEADERS = {"身份证号", "身份证号码", "证件号码", "id_number", "id", "idnumber"}


@dataclass(frozen=True)
class Upload:
    pseudonyms: list[str] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, why), the number masked


def parse(data: bytes, key: bytes) -> Upload:
    rows = list(csv.reader(io.StringIO(decode(data))))
    column = 0
    start = 0
    if rows:
        heads = [c.strip().lower() for c in rows[0]]
        named = [i for i, h in enumerate(heads) if h in HEADERS]
        if named or not any(h[:1].isdigit() for h in heads):
            column, start = (named[0] if named else 0), 1
    out = Upload()
    seen: set[str] = set()
    for line, row in enumerate(rows[start:], start=start + 1):
        cell = row[column].strip() if len(row) > column else ""
        if not cell:
            continue
        try:
            number = normalise(cell)
        except InvalidIdNumber as exc:
            out.rejected.append((line, f"{mask(cell)}: {exc}"))
            continue
        p = pseudonym(key, number)
        if p not in seen:
            seen.add(p)
            out.pseudonyms.append(p)
    return out

"""The watch-list CSV: vectors of what offices really upload, bad lines included."""

from __future__ import annotations

import pytest

from central.watchlist import parse
from contract.idnumber import pseudonym
from tests.central.conftest import PSEUDONYM_KEY, synthetic_id

A, B = synthetic_id(seq=11), synthetic_id(seq=12)
LEGACY = "110105800101013"  # 15 digits: widened to 18 before keying
WIDENED = "11010519800101013" + "X"


def p(number: str) -> str:
    return pseudonym(PSEUDONYM_KEY, number)


VECTORS = [
    ("plain column", f"{A}\n{B}\n".encode(), [p(A), p(B)], 0),
    ("header in Chinese, other columns", f"姓名,身份证号\n甲,{A}\n乙,{B}\n".encode(), [p(A), p(B)], 0),
    ("UTF-8 with BOM, CRLF", f"\ufeffid_number\r\n{A}\r\n".encode(), [p(A)], 0),
    ("GB18030 from a spreadsheet", f"姓名,身份证号\n甲,{A}\n".encode("gb18030"), [p(A)], 0),
    ("lower-case x and spaces", f" {A[:-1]}{A[-1].lower()} \n".encode(), [p(A)], 0),
    ("duplicates pushed once", f"{A}\n{A}\n{B}\n".encode(), [p(A), p(B)], 0),
    ("blank lines skipped", f"{A}\n\n,\n{B}\n".encode(), [p(A), p(B)], 0),
    ("wrong check character", f"{A[:-1]}{'0' if A[-1] != '0' else '1'}\n{B}\n".encode(), [p(B)], 1),
    ("not a number", f"{A}\nhello\n".encode(), [p(A)], 1),
    ("empty file", b"", [], 0),
]


@pytest.mark.parametrize(("name", "data", "pseudonyms", "rejected"), VECTORS, ids=[v[0] for v in VECTORS])
def test_watchlist_vectors(name: str, data: bytes, pseudonyms: list[str], rejected: int) -> None:
    upload = parse(data, PSEUDONYM_KEY)
    assert upload.pseudonyms == pseudonyms
    assert len(upload.rejected) == rejected


def test_a_legacy_number_is_keyed_as_its_18_digit_form() -> None:
    from contract.idnumber import normalise

    assert parse(LEGACY.encode(), PSEUDONYM_KEY).pseudonyms == [p(normalise(LEGACY))]


def test_rejected_lines_never_show_the_full_number() -> None:
    bad = A[:-1] + ("0" if A[-1] != "0" else "1")
    (line, why), = parse(f"{bad}\n".encode(), PSEUDONYM_KEY).rejected
    assert line == 1 and bad not in why and bad[-4:] in why

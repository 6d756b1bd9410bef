"""Check characters of the numbers printed on the four card types.

Resident cards, the HK/Macau/Taiwan permit and the 2023 foreign card use GB 11643's MOD 11-2 (see
contract.idnumber). The 2017 foreign card number (3 letters of nationality, 4-digit office, YYMMDD,
one digit, one check digit) uses the 7-3-1 check of machine-readable travel documents (ICAO 9303):
digits count as themselves, letters A-Z as 10-35, the weighted sum modulo 10 is the check digit.
"""

from __future__ import annotations

import re

from contract.idnumber import is_valid

_FOREIGN_2017 = re.compile(r"^[A-Z]{3}\d{12}$")
_WEIGHTS_731 = (7, 3, 1)


def check_digit_731(text: str) -> str:
    """The 7-3-1 check digit over digits and capital letters."""
    total = 0
    for i, char in enumerate(text):
        if "0" <= char <= "9":
            value = ord(char) - ord("0")
        elif "A" <= char <= "Z":
            value = ord(char) - ord("A") + 10
        else:
            raise ValueError(f"{char!r} has no 7-3-1 value")
        total += value * _WEIGHTS_731[i % 3]
    return str(total % 10)


def foreign_2017_ok(number: str) -> bool:
    """Whether a 2017 foreign permanent resident card number is well formed and its check matches."""
    n = number.strip().upper()
    return bool(_FOREIGN_2017.match(n)) and check_digit_731(n[:14]) == n[14]


def mod11_2_ok(number: str) -> bool:
    """GB 11643 check (also the HK/Macau/Taiwan permit and the 2023 foreign card); lowercase x is X."""
    return is_valid(number)

"""Resident ID numbers (GB 11643): the check character, normalisation, masking, keyed pseudonyms.

An ID number is personal information: logs and the kiosk show only `mask()`, and a traveller who
passes reaches central only as `pseudonym()`, an HMAC under the deployment's key.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")


class InvalidIdNumber(ValueError):
    """The text is not a well-formed ID number; the message says why."""


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 over the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise InvalidIdNumber("the check is computed over exactly 17 digits")
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def is_valid(number: str) -> bool:
    n = number.strip().upper()
    return bool(_SHAPE.match(n)) and check_character(n[:17]) == n[17]


def normalise(number: str) -> str:
    """Upper-case the check character and widen a legacy 15-digit number; raise if invalid."""
    n = number.strip().upper()
    if len(n) == 15 and n.isdigit():
        n17 = n[:6] + "19" + n[6:]
        return n17 + check_character(n17)
    if not _SHAPE.match(n):
        raise InvalidIdNumber("an ID number has 17 digits and a check character (0-9 or X)")
    if check_character(n[:17]) != n[17]:
        raise InvalidIdNumber("the check character does not match: a digit is mistyped")
    return n


def mask(number: str) -> str:
    """Keep the first 3 and last 4 characters, e.g. 110***********002X."""
    n = number.strip()
    if len(n) <= 7:
        return "*" * len(n)
    return n[:3] + "*" * (len(n) - 7) + n[-4:]


def pseudonym(key: bytes, number: str) -> str:
    """Keyed pseudonym of a person: the same person gives the same value under one deployment key."""
    return hmac.new(key, number.strip().upper().encode(), hashlib.sha256).hexdigest()


def province_code(number: str) -> str:
    """The first two digits: the province (GB/T 2260) that issued the number."""
    return number.strip()[:2]

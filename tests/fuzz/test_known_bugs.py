"""Inputs fuzzing found that broke a contract (issue 9's fuzzing report).

Fixed ones stay to guard the fixes. An open finding is marked xfail(strict=True) with the exception
it raises, so the run fails the day it is fixed, and the mark comes off (tests/fuzz/test_targets.py
does the same for targets whose mutated inputs reach one).
"""

from __future__ import annotations

import contextlib
import json

import pytest

from agent.healthcode.chain import HealthCodeSettings, build_chain
from agent.healthcode.keys import public_key_text
from agent.healthcode.status import CodeStatus
from central.intake import Accepted, Rejected, check
from central.store import DeviceKey
from contract import signing
from contract.messages import CodeColour
from drivers.idcard.cards import encode_text, parse_text
from drivers.idcard.codec import PeerError, UsageError
from drivers.idcard.deck import synthetic_deck
from tests.agent.healthcode.helpers import KEY as ISSUER_KEY
from tests.agent.healthcode.helpers import NOW
from tests.factories import verdict
from tests.fuzz.test_healthcode import signed_payload

DEVICE_KEY = b"known-bugs-key"
KEYS = {"box-a": DeviceKey(site="site-a", key=DEVICE_KEY, revoked=False)}
STATUS = {"site": "site-a", "device": "box-a", "state": "online", "boot": 1, "device_time": "2024-01-01T00:00:00Z"}


def _accepted_or_rejected(topic: str, payload: bytes) -> None:
    with contextlib.suppress(Rejected):
        assert isinstance(check(topic, payload, KEYS, max_bytes=64 * 1024), Accepted)


def _signed_verdict(**changes: object) -> bytes:
    obj = json.loads(signing.sign(DEVICE_KEY, verdict(site="site-a", device="box-a")))
    obj.update(changes)
    obj["sig"] = signing.signature(DEVICE_KEY, obj)
    return json.dumps(obj).encode()


CHECK_CASES = {
    # json.loads raises RecursionError on deep nesting, which check() does not catch
    "deep nesting": ("checkpoint/v1/site-a/box-a/status", b"[" * 60_000),
    # json.loads raises ValueError (not JSONDecodeError) for an integer of more than 4300 digits
    "long integer": ("checkpoint/v1/site-a/box-a/status", b'{"boot":' + b"1" * 5000 + b"}"),
    # central.sql.utc: astimezone(UTC) overflows for the first or last representable day with an offset
    "status at year 1": ("checkpoint/v1/site-a/box-a/status",
                         json.dumps({**STATUS, "device_time": "0001-01-01T00:00:00+01:00"}).encode()),
    "status at year 9999": ("checkpoint/v1/site-a/box-a/status",
                            json.dumps({**STATUS, "device_time": "9999-12-31T23:59:59-01:00"}).encode()),
    "verdict at year 1": ("checkpoint/v1/site-a/box-a/verdict",
                          _signed_verdict(device_time="0001-01-01T00:00:00+01:00")),
}


@pytest.mark.parametrize("case", sorted(CHECK_CASES))
def test_central_check_gives_accepted_or_rejected(case: str) -> None:
    _accepted_or_rejected(*CHECK_CASES[case])


@pytest.mark.parametrize("field", ["exp", "iat", "nat"])
def test_the_chain_answers_a_status_for_signed_claims_beyond_the_year_9999(field: str) -> None:
    """Claim times are bounded by the last second a datetime can hold (once unbounded: a crash)."""
    claims = {"iss": "gd-cdc", "sub": "0123456789abcdef", "col": "green", "iat": 1652500000, "exp": 1652600000}
    claims[field] = {"at": 10**20, "res": "negative"} if field == "nat" else 10**20  # type: ignore[assignment]
    chain = build_chain(HealthCodeSettings(issuer_keys={"gd-cdc": [public_key_text(ISSUER_KEY)]}))
    status = chain.verify(signed_payload(json.dumps(claims).encode()), CodeColour.GREEN, NOW)
    assert isinstance(status, CodeStatus)


@pytest.mark.xfail(strict=True, raises=UsageError, reason="open: parse_text takes UTF-16 surrogate pairs that "
                   "encode_text refuses (fuzz/README.md; fuzz_idcard_text skips the round trip for them)")
def test_a_card_text_beyond_ucs2_is_refused_or_round_trips() -> None:
    card = synthetic_deck()[0]
    block = encode_text(card)
    at = block.index(card.name.encode("utf-16-le"))
    block = block[:at] + "\U00020000".encode("utf-16-le") + block[at + 4 :]  # one character as a surrogate pair
    try:
        read = parse_text(block, card.photo, card.fingerprints)
    except PeerError:
        return
    assert parse_text(encode_text(read), read.photo, read.fingerprints) == read

"""The card-text parser and the reply-data parsers on any bytes: a card, an address, or a PeerError."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.idcard.cards import (
    TEXT_SIZE,
    CardType,
    IdCard,
    card_from_read,
    encode_text,
    guess_card,
    parse_address,
    parse_text,
)
from drivers.idcard.codec import PeerError, Reply, Status
from drivers.idcard.deck import synthetic_deck

DECK = synthetic_deck()
ucs2 = st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"])  # UCS-2 only


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(DECK), st.integers(0, TEXT_SIZE // 2 - 1), st.text(ucs2, min_size=1, max_size=8))
def test_a_card_block_with_characters_overwritten_parses_or_is_a_peer_error(card: IdCard, at: int, text: str) -> None:
    block = bytearray(encode_text(card))
    piece = text.encode("utf-16-le")[: TEXT_SIZE - 2 * at]
    block[2 * at : 2 * at + len(piece)] = piece
    try:
        parsed = parse_text(bytes(block))
    except PeerError:
        return
    assert parse_text(encode_text(parsed)) == parsed


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=TEXT_SIZE, max_size=TEXT_SIZE))
def test_any_256_bytes_parse_or_are_a_peer_error(block: bytes) -> None:
    with contextlib.suppress(PeerError):
        parse_text(block)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=700), st.booleans())
def test_any_reply_data_is_a_card_or_a_peer_error(data: bytes, with_fingerprints: bool) -> None:
    for parse in (lambda: card_from_read(data, with_fingerprints), lambda: parse_address(data),
                  lambda: guess_card(Reply(0, 0, Status.OK, data))):
        with contextlib.suppress(PeerError):
            parse()


def test_a_count_in_non_ascii_digits_is_a_peer_error() -> None:
    """Found by fuzzing: "²".isdigit() is true but int("²") raises ValueError."""
    card = next(c for c in DECK if c.type is CardType.HK_MO_TW)
    block = bytearray(encode_text(card))
    block[238:242] = "²²".encode("utf-16-le")
    with contextlib.suppress(PeerError):
        parse_text(bytes(block))
        raise AssertionError("parsed a count written in superscripts")


def test_a_date_before_the_year_1000_round_trips() -> None:
    """Found by fuzzing: strftime("%Y") writes the year 404 as "404", which is not 8 digits."""
    card = DECK[0].model_copy(update={"valid_from": DECK[0].valid_from.replace(year=404)})
    assert parse_text(encode_text(card)).valid_from == card.valid_from

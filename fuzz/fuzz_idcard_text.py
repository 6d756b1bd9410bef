"""Fuzz the card-text parser and the reply-data parsers (drivers/idcard/cards.py).

The first byte picks what the rest is: a 256-byte text block (padded with spaces or cut), the data of
a card read with two or with three length fields, an appended address, or a captured reply whose
command is unknown (`guess_card`). Contract checked: the peer's bytes give a card (or an address) or
a `PeerError`, nothing else; a card serialises (computed fields included), never shows its full ID
number in repr, and re-encodes to a block that parses to the same card.
"""

from __future__ import annotations

from fuzz._harness import instrumented, main

with instrumented():
    from drivers.idcard.cards import (
        TEXT_SIZE,
        CardRead,
        IdCard,
        card_from_read,
        encode_card_read,
        encode_text,
        guess_card,
        parse_address,
        parse_text,
    )
    from drivers.idcard.codec import PeerError, Reply, Status
    from drivers.idcard.deck import synthetic_deck

NAME = "fuzz_idcard_text"
_BLANK = " ".encode("utf-16-le") * (TEXT_SIZE // 2)


def _parse(mode: int, rest: bytes) -> IdCard | str | None:
    if mode == 0:
        return parse_text((rest + _BLANK[len(rest) :])[:TEXT_SIZE])
    if mode in (1, 2):
        return card_from_read(rest, with_fingerprints=mode == 2)
    if mode == 3:
        return parse_address(rest)
    return guess_card(Reply(0, 0, Status.OK, rest))


def _check_card(card: IdCard) -> None:
    card.model_dump(mode="json")
    number = card.id_number
    if len(number) > 7 and number == number.strip():
        assert f"id_number={number!r}" not in repr(card), "repr shows the full ID number"
    if any(ord(char) > 0xFFFF for value in card.model_dump().values() if isinstance(value, str) for char in value):
        return  # known: parse_text takes UTF-16 surrogate pairs, encode_text only UCS-2 (fuzz/README.md)
    assert parse_text(encode_text(card), card.photo, card.fingerprints) == card, "card does not round-trip"


def one_input(data: bytes) -> None:
    if not data:
        return
    try:
        parsed = _parse(data[0] % 5, data[1:])
    except PeerError:
        return
    if isinstance(parsed, IdCard):
        _check_card(parsed)


def seeds() -> list[bytes]:
    cards = synthetic_deck()
    out = [b"\x00" + encode_text(card) for card in cards]
    out += [b"\x01" + encode_card_read(CardRead(encode_text(c), c.photo[:200], None)) for c in cards[:3]]
    out += [b"\x02" + encode_card_read(CardRead(encode_text(c), b"", c.fingerprints[:100])) for c in cards[:3]]
    out += [b"\x03" + "北京市东城区景山前街4号".encode("utf-16-le"), b"\x04" + out[-1][1:]]
    return out


if __name__ == "__main__":
    main(NAME, one_input, seeds)

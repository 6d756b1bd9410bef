"""Reply data by command: card reads with two or three length fields, the appended address."""

from __future__ import annotations

import pytest

from drivers.idcard.cards import (
    CardRead,
    card_from_read,
    card_read_data,
    encode_address,
    encode_card_read,
    guess_card,
    parse_address,
    parse_card_read,
)
from drivers.idcard.codec import PeerError, Reply, Status, encode_reply
from drivers.idcard.deck import synthetic_deck

CARD = synthetic_deck()[0]


def test_a_text_and_photo_read_is_the_published_1295_bytes() -> None:
    frame = encode_reply(Status.OK, card_read_data(CARD, with_fingerprints=False))
    assert len(frame) == 1295
    assert frame[:14] == bytes.fromhex("AA AA AA 96 69 05 08 00 00 90 01 00 04 00")
    assert card_from_read(frame[10:-1], with_fingerprints=False) == CARD


@pytest.mark.parametrize(("size", "len_field"), [(1024, "09 0A"), (512, "07 0A"), (0, "05 0A")])
def test_fingerprint_reads_are_cut_by_their_third_length(size: int, len_field: str) -> None:
    card = CARD.model_copy(update={"fingerprints": bytes(range(256)) * (size // 256)})
    frame = encode_reply(Status.OK, card_read_data(card, with_fingerprints=True))
    assert frame[5:7] == bytes.fromhex(len_field)
    read = parse_card_read(frame[10:-1], with_fingerprints=True)
    assert (len(read.text), len(read.photo), read.fingerprints) == (256, 1024, card.fingerprints)
    assert card_from_read(frame[10:-1], with_fingerprints=True) == card


def test_lengths_are_read_not_assumed() -> None:
    odd = encode_card_read(CardRead(b"t" * 256, b"p" * 700, None))
    assert parse_card_read(odd, with_fingerprints=False) == CardRead(b"t" * 256, b"p" * 700, None)


BAD_READS = [
    ("too short for the length fields", bytes(3), False, "too few"),
    ("lengths longer than the data", bytes.fromhex("0100 0400") + bytes(100), False, "need 1284"),
    ("bytes left over", encode_card_read(CardRead(bytes(256), bytes(1024), None)) + b"\x00", False, "holds 1285"),
    ("a two-length read taken for three", encode_card_read(CardRead(bytes(256), bytes(4), None)), True,
     "length fields"),
]


@pytest.mark.parametrize(("what", "data", "fingerprints", "says"), BAD_READS, ids=[b[0] for b in BAD_READS])
def test_bad_reads_are_peer_errors(what: str, data: bytes, fingerprints: bool, says: str) -> None:
    with pytest.raises(PeerError, match=says):
        parse_card_read(data, fingerprints)


def test_a_text_block_of_the_wrong_size_is_a_peer_error() -> None:
    with pytest.raises(PeerError, match="255 bytes"):
        card_from_read(encode_card_read(CardRead(bytes(255), b"", None)), with_fingerprints=False)


def test_newest_address() -> None:
    data = encode_address("上海市黄浦区示例路 2 号")
    assert len(data) == 70
    assert parse_address(data) == "上海市黄浦区示例路 2 号"
    with pytest.raises(PeerError):
        parse_address(b"\x00")


@pytest.mark.parametrize("card", synthetic_deck(), ids=lambda c: c.type.value)
def test_guess_card_finds_reads_of_either_shape(card: object) -> None:
    for fingerprints in (False, True):
        reply = Reply(0, 0, Status.OK, card_read_data(card, fingerprints))  # type: ignore[arg-type]
        guessed = guess_card(reply)
        assert guessed is not None and guessed.id_number == card.id_number  # type: ignore[attr-defined]


@pytest.mark.parametrize("reply", [Reply(0, 0, Status.OK, b""), Reply(0, 0, Status.OK, bytes(8)),
                                   Reply(0, 0, Status.CARD_FOUND, bytes(4)), Reply(0, 0, 0x41, b"")])
def test_guess_card_leaves_status_replies_alone(reply: Reply) -> None:
    assert guess_card(reply) is None

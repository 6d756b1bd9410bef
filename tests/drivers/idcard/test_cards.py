"""The text block of every card type: hand-laid vectors from the offset tables, round trips, bad blocks."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.idcard.cards import CardType, IdCard, check_digit_731, encode_text, foreign_2017_ok, mod11_2_ok, parse_text
from drivers.idcard.codec import PeerError, UsageError
from drivers.idcard.deck import mod11_number, synthetic_deck


def lay(fields: dict[int, str], mark: str) -> bytes:
    """A text block laid out by hand: each string at its byte offset, spaces elsewhere."""
    block = bytearray("".ljust(128).encode("utf-16-le"))
    for offset, text in {**fields, 248: mark}.items():
        raw = text.encode("utf-16-le")
        block[offset : offset + len(raw)] = raw
    return bytes(block)


def test_resident_card_by_the_offset_table() -> None:
    card = parse_text(lay({0: "王测试", 30: "1", 32: "01", 36: "19491231", 52: "北京市东城区示例 胡同 1 号",
                           122: "11010519491231002X", 158: "北京市公安局东城分局", 188: "20100101",
                           204: "长期"}, " "), photo=b"wlt")
    assert card.type is CardType.RESIDENT
    assert (card.name, card.sex, card.sex_text, card.nation, card.nation_text) == ("王测试", "1", "男", "01", "汉")
    assert card.birth == date(1949, 12, 31)
    assert card.address == "北京市东城区示例 胡同 1 号"  # inner spaces kept
    assert (card.id_number, card.id_checksum_ok) == ("11010519491231002X", True)
    assert (card.issuer, card.valid_from, card.valid_to) == ("北京市公安局东城分局", date(2010, 1, 1), None)
    assert card.photo == b"wlt" and card.name_en is None and card.pass_number is None


def test_hk_mo_tw_permit_by_the_offset_table() -> None:
    number = mod11_number("810000", date(1990, 1, 1), 3)
    card = parse_text(lay({0: "陈港示", 30: "1", 36: "19900101", 52: "广东省深圳市福田区测试道9号", 122: number,
                           158: "深圳市公安局", 188: "20190801", 204: "20240801", 220: "H01234567",
                           238: "02"}, "J"))
    assert card.type is CardType.HK_MO_TW
    assert (card.pass_number, card.issue_count, card.nation, card.id_checksum_ok) == ("H01234567", 2, None, True)
    assert card.valid_to == date(2024, 8, 1)


def test_foreign_2017_card_by_the_offset_table() -> None:
    card = parse_text(lay({0: "TESTER ALICE  MARY", 120: "2", 122: "USA110085031210", 152: "USA",
                           158: "泰爱丽", 188: "20180701", 204: "20280701", 220: "19850312", 236: "17",
                           240: "1500"}, "I"))
    assert card.type is CardType.FOREIGN_2017
    assert card.name_en == "TESTER ALICE  MARY"  # every space kept, even a double one
    assert (card.name, card.nationality, card.birth, card.card_version, card.issuer) == (
        "泰爱丽", "USA", date(1985, 3, 12), "17", "1500")
    assert (card.id_number, card.id_checksum_ok) == ("USA110085031210", True)


def test_foreign_2023_english_name_continues_at_220() -> None:
    long_name = "SAMPLE-PERSON JONATHAN ALEXANDER BARTHOLOMEW"  # 44 characters: 35 + 9
    number = mod11_number("911840", date(1990, 2, 14), 2)
    card = parse_text(lay({0: "贝示例", 30: "1", 32: "01", 36: "19900214", 52: long_name[:35], 122: number,
                           158: "国家移民管理局", 188: "20231201", 204: "20331201", 220: long_name[35:],
                           242: "USA", 250: "A1"}, "Y"))
    assert card.type is CardType.FOREIGN_2023
    assert card.name_en == long_name
    assert (card.renewal_count, card.nationality, card.previous_ref, card.id_checksum_ok) == (1, "USA", "A1", True)


@pytest.mark.parametrize("card", synthetic_deck(), ids=lambda c: f"{c.type.value}-{c.id_masked}")
def test_every_deck_card_round_trips(card: IdCard) -> None:
    block = encode_text(card)
    assert len(block) == 256
    assert parse_text(block, card.photo, card.fingerprints) == card
    assert card.id_checksum_ok


def test_the_deck_holds_every_type_and_expired_cards() -> None:
    deck = synthetic_deck()
    assert {card.type for card in deck} == set(CardType)
    assert any(card.expired(date(2025, 1, 1)) for card in deck)
    assert any(card.valid_to is None for card in deck)


def test_expired_counts_the_last_day_as_valid() -> None:
    card = synthetic_deck()[2]
    assert card.valid_to is not None
    assert not card.expired(card.valid_to)
    assert card.expired(date.fromordinal(card.valid_to.toordinal() + 1))
    assert not synthetic_deck()[3].expired(date(2999, 1, 1))  # 长期


def test_photo_is_out_of_repr_and_json_unless_asked() -> None:
    card = synthetic_deck()[9]
    assert "photo" not in repr(card) and "fingerprints" not in repr(card)
    assert card.id_number not in repr(card) and card.id_masked in repr(card)
    plain = json.loads(card.model_dump_json())
    assert "photo" not in plain and plain["id_checksum_ok"] is True and plain["sex_text"] == "男"
    full = card.model_dump_json(context={"biometrics": True})
    assert IdCard.model_validate_json(full) == card


ID_NUMBERS = [
    ("11010519491231002X", True), ("11010519491231002x", True), ("440524188001010014", True),
    ("440524188001010015", False), ("1101051949123100", False),
]


@pytest.mark.parametrize(("number", "ok"), ID_NUMBERS)
def test_mod11_2(number: str, ok: bool) -> None:
    assert mod11_2_ok(number) is ok


def test_7_3_1_check_against_the_icao_9303_specimen() -> None:
    assert [check_digit_731(s) for s in ("L898902C3", "740812", "120415")] == ["6", "2", "9"]
    # U=30·7 S=28·3 A=10·1 1·7 1·3 0·1 0·7 8·3 5·1 0·7 3·3 1·1 2·7 1·3 = 370 → 0
    assert foreign_2017_ok("USA110085031210") and foreign_2017_ok("usa110085031210")
    assert not foreign_2017_ok("USA110085031211")
    assert not foreign_2017_ok("USA1100850312")
    with pytest.raises(ValueError):
        check_digit_731("A-1")


BAD_BLOCKS = [
    ("short block", lay({}, " ")[:200], "200 bytes"),
    ("unknown type mark", lay({30: "1", 36: "19900101", 188: "20100101", 204: "20200101"}, "Q"), "'Q'"),
    ("birth not a date", lay({30: "1", 36: "1990013X", 188: "20100101", 204: "20200101"}, " "), "birth"),
    ("impossible date", lay({30: "1", 36: "19900230", 188: "20100101", 204: "20200101"}, " "), "calendar"),
    ("count not a number", lay({36: "19900101", 188: "20100101", 204: "20200101", 238: "x1"}, "J"),
     "issue_count"),
    ("lone surrogate", b"\x00\xd8" + lay({36: "19900101", 188: "20100101", 204: "20200101"}, " ")[2:],
     "UCS-2"),
]


@pytest.mark.parametrize(("what", "block", "says"), BAD_BLOCKS, ids=[b[0] for b in BAD_BLOCKS])
def test_bad_blocks_are_peer_errors(what: str, block: bytes, says: str) -> None:
    with pytest.raises(PeerError, match=says):
        parse_text(block)


def test_values_that_do_not_fit_are_usage_errors() -> None:
    card = synthetic_deck()[0]
    with pytest.raises(UsageError, match="name"):
        encode_text(card.model_copy(update={"name": "名" * 16}))
    with pytest.raises(UsageError, match="UCS-2"):
        encode_text(card.model_copy(update={"name": "𠀀"}))


text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xD7FF), max_size=12)
inner = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x9FFF, exclude_characters="\x7f"),
                max_size=30).map(str.strip)
days = st.dates(date(1900, 1, 1), date(2099, 12, 31))


@given(st.sampled_from(list(CardType)), text, inner, st.sampled_from(["0", "1", "2", "9"]), days, days,
       st.none() | days, st.integers(0, 99))
def test_generated_cards_round_trip(card_type: CardType, name: str, address: str, sex: str, birth: date,
                                    start: date, end: date | None, count: int) -> None:
    per_type: dict[CardType, dict[str, object]] = {
        CardType.RESIDENT: {"nation": "01", "address": address, "issuer": name},
        CardType.HK_MO_TW: {"address": address, "issuer": name, "pass_number": "H1", "issue_count": count},
        CardType.FOREIGN_2017: {"name_en": address, "nationality": "USA", "card_version": "17",
                                "issuer": "1500"},
        CardType.FOREIGN_2023: {"name_en": (address + address[:16]).rstrip(), "nationality": "USA",
                                "renewal_count": count, "issuer": name, "previous_ref": ""},
    }
    card = IdCard(type=card_type, name=name, sex=sex, birth=birth, id_number="X" * 15, valid_from=start,
                  valid_to=end, **per_type[card_type])  # type: ignore[arg-type]
    assert parse_text(encode_text(card)) == card

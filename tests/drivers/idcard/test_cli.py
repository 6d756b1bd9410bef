"""`checkpoint idcard parse` on every published frame and on broken ones; `watch` against the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from checkpoint.cli import app
from drivers.idcard.cards import card_read_data, encode_address
from drivers.idcard.codec import Status, encode_reply
from drivers.idcard.deck import synthetic_deck
from drivers.idcard.simulator import IdCardSimulator

runner = CliRunner()

STATUS_FRAMES = [
    ("AA AA AA 96 69 00 04 00 00 90 94", "90", "ok"),
    ("AAAAAA9669000800009F0000000097", "9f", "card found"),
    ("aa aa aa 96 69 00 04 00 00 80 84", "80", "find failed (no card)"),
    ("AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C", "90", "ok"),
    ("AA AA AA 96 69 00 04 00 00 41 45", "41", "read failed"),
]


def parse(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["idcard", "parse", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("frame", "sw3", "status"), STATUS_FRAMES)
def test_status_replies(frame: str, sw3: str, status: str) -> None:
    code, out, _ = parse(frame, "--json")
    assert code == 0
    assert json.loads(out) | {"sw3": sw3, "status": status} == json.loads(out)


@pytest.mark.parametrize("card", synthetic_deck(), ids=lambda c: c.type.value)
def test_card_reads_from_a_binary_capture(tmp_path: Path, card: object) -> None:
    capture = tmp_path / "read.bin"
    capture.write_bytes(encode_reply(Status.OK, card_read_data(card, False)))  # type: ignore[arg-type]
    code, out, _ = parse(f"@{capture}", "--json")
    assert code == 0
    got = json.loads(out)
    expected = card.model_dump(mode="json")  # type: ignore[attr-defined]
    for key in ("type", "name", "name_en", "sex", "nation", "birth", "address", "id_number", "issuer",
                "valid_from", "valid_to", "id_checksum_ok"):
        assert got[key] == expected[key]
    assert got["photo_bytes"] == 1024 and "photo" not in got


def test_a_resident_card_in_hex_with_spaces() -> None:
    card = synthetic_deck()[3]
    frame = encode_reply(Status.OK, card_read_data(card, True)).hex(" ")
    got = json.loads(parse(frame, "--json")[1])
    assert (got["type"], got["nation"], got["valid_to"], got["sex"]) == ("resident", "11", None, "1")


def test_the_appended_address_and_the_plain_output() -> None:
    code, out, _ = parse(encode_reply(Status.OK, encode_address("天津市和平区示例道 7 号")).hex())
    assert code == 0 and "address: 天津市和平区示例道 7 号" in out


REJECTED = [
    ("AA AA AA 96 69 00 04 00 00 41 46", "checksum 46 where the 11-byte frame gives 45"),
    ("AA AA AA 96 69 00 05 00 00 41 45", "truncated frame: 11 of 12 bytes"),
    ("AA AA AA 96 69 00 02 00 00 90", "length field 2 outside 4..4096"),
    ("00 01 02", "no frame found"),
    (encode_reply(Status.OK, bytes.fromhex("0002 0000 4100")).hex(), "card data is not: the text block has 2"),
    ("not hex", "not hexadecimal"),
    ("@/nonexistent/capture.bin", "cannot read"),
]


@pytest.mark.parametrize(("frame", "reason"), REJECTED)
def test_broken_frames_exit_non_zero_with_one_line(frame: str, reason: str) -> None:
    code, out, err = parse(frame, "--json")
    assert code == 2 and out == ""
    assert reason in err and len(err.strip().splitlines()) == 1


def test_stray_bytes_before_a_frame_are_noted_not_fatal() -> None:
    code, out, err = parse("00 11 AA AA AA 96 69 00 04 00 00 90 94", "--json")
    assert code == 0 and json.loads(out)["sw3"] == "90" and "2 stray" in err


def test_watch_prints_cards_masked_and_health(tmp_path: Path) -> None:
    card = synthetic_deck()[2]
    with IdCardSimulator(tmp_path / "idcard") as sim:
        sim.present(card)
        result = runner.invoke(app, ["idcard", "watch", "--port", sim.path, "--poll-interval", "0.02",
                                     "--count", "1", "--seconds", "20"])
    assert result.exit_code == 0
    assert "health ok" in result.stdout
    assert card.id_masked in result.stdout and card.id_number not in result.stdout
    assert "EXPIRED" in result.stdout

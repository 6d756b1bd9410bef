from __future__ import annotations

import json
from pathlib import Path

import cv2
from typer.testing import CliRunner

from agent.healthcode.chain import HealthCodeSettings, build_chain
from checkpoint.cli import app as checkpoint
from contract.messages import CodeColour, ColourSource
from tests.drivers.camera.conftest import URL, phone_frame

runner = CliRunner()  # through the root command: `qr make` and `qr keygen` come from agent/healthcode


def test_decode_prints_one_json_object_per_image_and_carries_on_after_errors(tmp_path: Path) -> None:
    photo, empty, broken = tmp_path / "phone.png", tmp_path / "empty.png", tmp_path / "broken.jpg"
    cv2.imwrite(str(photo), phone_frame(colour=CodeColour.RED)[0])
    cv2.imwrite(str(empty), phone_frame()[0][:40, :40])
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    result = runner.invoke(
        checkpoint, ["qr", "decode", str(photo), str(broken), str(empty), str(tmp_path / "gone.png"), "--json"]
    )
    assert result.exit_code == 1  # some files could not be read
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(photo), str(broken), str(empty), str(tmp_path / "gone.png")]
    assert lines[0]["codes"] == [{"text": URL, "colour": "red"}] and lines[0]["ms"] >= 0
    assert "error" in lines[1] and "error" in lines[3]
    assert lines[2]["codes"] == []


def test_keygen_make_and_decode_round_trip(tmp_path: Path) -> None:
    key = tmp_path / "issuer.key"
    made = runner.invoke(checkpoint, ["qr", "keygen", str(key)])
    assert made.exit_code == 0, made.output
    public = made.stdout.strip()
    assert key.stat().st_mode & 0o777 == 0o600
    assert runner.invoke(checkpoint, ["qr", "keygen", str(key)]).exit_code == 2  # never overwrites a key
    out = tmp_path / "code.png"
    made = runner.invoke(
        checkpoint,
        ["qr", "make", str(out), "--key", str(key), "--colour", "yellow", "--test-hours-ago", "30", "--page"],
    )
    assert made.exit_code == 0, made.output
    payload = made.stdout.strip()
    decoded = json.loads(runner.invoke(checkpoint, ["qr", "decode", str(out), "--json"]).stdout)
    assert decoded["codes"] == [{"text": payload, "colour": "yellow"}]
    status = build_chain(HealthCodeSettings(issuer_keys={"demo-cdc": [public]})).verify(payload, CodeColour.YELLOW)
    assert (status.colour, status.source, status.nucleic_acid_result) == (
        CodeColour.YELLOW,
        ColourSource.SIGNED_PAYLOAD,
        "negative",
    )


def test_make_rejects_bad_input_with_one_line(tmp_path: Path) -> None:
    key = tmp_path / "k"
    runner.invoke(checkpoint, ["qr", "keygen", str(key)])
    bad_colour = runner.invoke(
        checkpoint, ["qr", "make", str(tmp_path / "c.png"), "--key", str(key), "--colour", "blue"]
    )
    assert bad_colour.exit_code == 2 and "colour" in bad_colour.output
    no_key = runner.invoke(checkpoint, ["qr", "make", str(tmp_path / "c.png"), "--key", str(tmp_path / "none")])
    assert no_key.exit_code == 2 and "cannot use the key" in no_key.output
    bad_issuer = runner.invoke(
        checkpoint, ["qr", "make", str(tmp_path / "c.png"), "--key", str(key), "--issuer", "Bad Name"]
    )
    assert bad_issuer.exit_code == 2 and "iss" in bad_issuer.output


def test_watch_the_simulated_scene() -> None:
    result = runner.invoke(
        checkpoint, ["qr", "watch", "--source", "sim:", "--width", "640", "--height", "480", "--seconds", "1.5"]
    )
    assert result.exit_code == 0, result.output
    assert "CodeScanned" in result.stdout and "demo0000" in result.stdout

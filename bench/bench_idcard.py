"""ID-card reader driver: decoder throughput, and the poll loop's CPU use with no card on the reader.

Throughput: a stream of reader replies, with a few stray bytes between some of them, is fed to the
`FrameDecoder` in chunks the size a USB-serial read returns. The baseline, in the same run, is the
floor for any Python decoder: hunting the preamble with `bytes.find` and cutting by LEN, with no
checksum, no bounds, no events. Two streams: card reads (1,295-byte frames) and find replies (11
bytes, what an idle reader sends four times a second). Target: ten times what the line can carry at
115200 baud.

Idle CPU: the simulator runs in a child process with no card (so only our side is counted); the
`IdCardReader` polls it at its default interval (0.25 s) for a while. The baseline is a bare pyserial
loop sending the same find command at the same rate and reading the 11-byte reply, with no decoding.
Target (issue 3): under 1 % of a core.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import serial

from bench.harness import Figure, child_processes, cpu_percent_of_core, decode_figure, idle_cpu_figure, run_device
from drivers.idcard.cards import card_read_data
from drivers.idcard.codec import PREAMBLE, Command, FrameDecoder, Reply, Status, encode, encode_reply
from drivers.idcard.deck import synthetic_deck
from drivers.idcard.reader import IdCardConfig, IdCardReader

STRAY = b"\x00\x13"


def run(quick: bool) -> list[Figure]:
    reads = [encode_reply(Status.OK, card_read_data(card, False)) for card in synthetic_deck()]
    finds = [encode_reply(Status.FIND_FAILED), encode_reply(Status.CARD_FOUND, bytes(4))]
    return [
        _throughput("card-read replies", reads, 2_000 if quick else 20_000, chunk=512),
        _throughput("find replies", finds, 20_000 if quick else 200_000, chunk=64),
        _idle_cpu(3.0 if quick else 15.0),
    ]


def _floor(stream: bytes, chunk: int) -> int:
    """Preamble hunt and LEN cut only: the least any decoder must do."""
    buf, frames = b"", 0
    for i in range(0, len(stream), chunk):
        buf += stream[i : i + chunk]
        while (start := buf.find(PREAMBLE)) >= 0 and len(buf) >= start + 7:
            end = start + 7 + int.from_bytes(buf[start + 5 : start + 7], "big")
            if len(buf) < end:
                break
            frames += 1
            buf = buf[end:]
    return frames


def _decode(stream: bytes, chunk: int) -> int:
    decoder = FrameDecoder(Reply)
    frames = 0
    for i in range(0, len(stream), chunk):
        decoder.feed(stream[i : i + chunk])
        frames += sum(isinstance(event, Reply) for event in decoder.events())
    return frames


def _throughput(what: str, frames: list[bytes], count: int, chunk: int) -> Figure:
    stream = b"".join(frames[i % len(frames)] + (STRAY if i % 10 == 0 else b"") for i in range(count))
    t0 = time.perf_counter()
    decoded = _decode(stream, chunk)
    decode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    floor = _floor(stream, chunk)
    floor_s = time.perf_counter() - t0
    assert decoded == floor == count, (what, decoded, floor, count)
    floor_name = "bytes.find of the preamble and a cut by LEN, no checks"
    return decode_figure(
        "idcard", f"decode throughput, {what}", count, decode_s, floor_s, floor_name, 115200, len(stream) / count
    )


def _idle_cpu(seconds: float) -> Figure:
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / "idcard"
        with child_processes("bench.children.serial_simulator", ["idcard", str(link)]):
            config = IdCardConfig(port=str(link))
            baseline = cpu_percent_of_core(lambda: _bare_loop(config, seconds), seconds)
            value = cpu_percent_of_core(lambda: run_device(IdCardReader(config), seconds), seconds)
    bare = "bare pyserial loop: the same find at the same rate, no decoding"
    return idle_cpu_figure("idcard", "poll loop idle CPU (no card)", value, baseline, bare)


def _bare_loop(config: IdCardConfig, seconds: float) -> None:
    find = encode(Command.FIND)
    answered = 0
    with serial.Serial(config.port, config.baud, timeout=config.reply_timeout_s) as port:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            port.write(find)
            answered += len(port.read(11)) == 11
            time.sleep(config.poll_interval_s)
    assert answered, "the simulator did not answer"

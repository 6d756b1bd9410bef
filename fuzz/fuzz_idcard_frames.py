"""Fuzz the GA/T 467 frame decoder (drivers/idcard/codec.py), both the host's and the reader's side.

Contract checked: for any bytes in any cuts the decoder returns only frames, `FrameError`s or
NEED_DATA and raises nothing; every event consumes bytes (so `events()` cannot loop); once drained it
holds at most one incomplete frame; `flush()` empties it; every frame it returns re-encodes to bytes
that decode to the same frame.
"""

from __future__ import annotations

from typing import Any

from fuzz._harness import instrumented, main, pieces

with instrumented():
    from drivers.idcard.codec import (
        HEADER,
        MAX_LEN,
        PREAMBLE,
        Command,
        FrameDecoder,
        FrameError,
        NeedData,
        Reply,
        Request,
        checksum,
        encode,
        encode_reply,
    )

NAME = "fuzz_idcard_frames"


def _reencode(frame: Reply | Request) -> bytes:
    if isinstance(frame, Reply):
        return encode_reply(frame.sw3, frame.data, frame.sw1, frame.sw2)
    head = (len(frame.data) + 3).to_bytes(2, "big")
    body = bytes((frame.cmd, frame.para)) + frame.data
    return PREAMBLE + head + body + bytes((checksum(head + body),))


def one_input(data: bytes) -> None:
    if data[:1] and data[0] & 1:
        _check(FrameDecoder(Request), Request, data)
    else:
        _check(FrameDecoder(Reply), Reply, data)


def _check(decoder: FrameDecoder[Any], kind: type[Reply | Request], data: bytes) -> None:
    fed = 0
    for chunk in pieces(data):
        decoder.feed(chunk)
        fed += len(chunk)
        while True:
            before = decoder.pending
            event = decoder.next_event()
            if isinstance(event, NeedData):
                break
            assert isinstance(event, kind | FrameError), f"unexpected event {event!r}"
            assert decoder.pending < before, "an event that consumed no bytes: events() could loop"
            if isinstance(event, Reply | Request):
                again: FrameDecoder[Any] = FrameDecoder(type(event))
                again.feed(_reencode(event))
                assert list(again.events()) == [event], "a decoded frame does not survive re-encoding"
        assert decoder.pending < HEADER + MAX_LEN, f"{decoder.pending} bytes held after draining"
    assert decoder.pending <= fed
    leftover = decoder.flush()
    assert leftover is None or isinstance(leftover, FrameError)
    assert decoder.pending == 0


def seeds() -> list[bytes]:
    replies = [encode_reply(0x90, bytes(range(40))), encode_reply(0x9F, b"\x00" * 4), encode_reply(0x80)]
    requests = [encode(command) for command in Command]
    return [b"\x00" + b"".join(replies), b"\x01" + b"".join(requests), b"\x85" + b"noise" + replies[0],
            b"\x00" + replies[0][:-1] + b"\x00" + replies[1]]


if __name__ == "__main__":
    main(NAME, one_input, seeds)

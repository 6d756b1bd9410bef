"""The frame codec against the published frames, bad vectors, and arbitrary byte streams."""

from __future__ import annotations

import functools
import operator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.idcard.codec import (
    HEADER,
    MAX_LEN,
    NEED_DATA,
    BadChecksum,
    BadLength,
    Command,
    FrameDecoder,
    FrameError,
    Reply,
    Request,
    Status,
    StrayBytes,
    Truncated,
    UsageError,
    checksum,
    describe_status,
    encode,
    encode_reply,
)

H = bytes.fromhex

# docs/protocols.md §1.3: every published request frame.
PUBLISHED_COMMANDS = [
    (Command.RESET, "AA AA AA 96 69 00 03 10 FF EC"),
    (Command.MODULE_STATUS, "AA AA AA 96 69 00 03 11 FF ED"),
    (Command.MODULE_ID, "AA AA AA 96 69 00 03 12 FF EE"),
    (Command.FIND, "AA AA AA 96 69 00 03 20 01 22"),
    (Command.SELECT, "AA AA AA 96 69 00 03 20 02 21"),
    (Command.READ, "AA AA AA 96 69 00 03 30 01 32"),
    (Command.READ_NEWEST_ADDRESS, "AA AA AA 96 69 00 03 30 03 30"),
    (Command.READ_WITH_FINGERPRINTS, "AA AA AA 96 69 00 03 30 10 23"),
    # set baud: only "60 00 … 60 04" is published; the frames follow from the frame rule
    (Command.SET_BAUD_115200, "AA AA AA 96 69 00 03 60 00 63"),
    (Command.SET_BAUD_9600, "AA AA AA 96 69 00 03 60 04 67"),
]

# docs/protocols.md §1.5.
PUBLISHED_REPLIES = [
    ("AA AA AA 96 69 00 04 00 00 90 94", Status.OK, b""),
    ("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97", Status.CARD_FOUND, bytes(4)),
    ("AA AA AA 96 69 00 04 00 00 80 84", Status.FIND_FAILED, b""),
    ("AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C", Status.OK, bytes(8)),
    ("AA AA AA 96 69 00 04 00 00 41 45", Status.READ_FAILED, b""),
]

OK = H("AA AA AA 96 69 00 04 00 00 90 94")
FOUND = H("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97")


def decode_all(stream: bytes, requests: bool = False) -> list[object]:
    decoder: FrameDecoder[Reply] | FrameDecoder[Request] = (
        FrameDecoder(Request) if requests else FrameDecoder(Reply))
    decoder.feed(stream)
    events: list[object] = list(decoder.events())
    if (leftover := decoder.flush()) is not None:
        events.append(leftover)
    return events


@pytest.mark.parametrize(("command", "frame"), PUBLISHED_COMMANDS, ids=lambda v: getattr(v, "name", ""))
def test_every_published_command_frame(command: Command, frame: str) -> None:
    assert encode(command) == H(frame)
    assert decode_all(H(frame), requests=True) == [Request(*command.value, b"")]
    assert Request(*command.value, b"").command is command


@pytest.mark.parametrize(("frame", "status", "data"), PUBLISHED_REPLIES)
def test_every_published_reply(frame: str, status: Status, data: bytes) -> None:
    assert decode_all(H(frame)) == [Reply(0, 0, status, data)]
    assert encode_reply(status, data) == H(frame)


BAD_VECTORS = [
    ("wrong checksum", "AA AA AA 96 69 00 04 00 00 41 46", [BadChecksum, StrayBytes]),
    ("length below a reply's minimum", "AA AA AA 96 69 00 02 00 00 90", [BadLength, StrayBytes]),
    ("length beyond the largest frame", "AA AA AA 96 69 FF FF 00 00 90", [BadLength, StrayBytes]),
    ("length says more than came", "AA AA AA 96 69 00 05 00 00 41 45", [Truncated]),
    ("cut inside the header", "AA AA AA 96 69 00", [Truncated]),
    ("cut inside the preamble", "AA AA AA", [Truncated]),
    ("noise only", "01 02 03 AA 04", [StrayBytes]),
    ("noise, then a frame", "00 11 22 AA AA " + "AA AA AA 96 69 00 04 00 00 90 94", [StrayBytes, Reply]),
    ("two frames in one chunk", "AA AA AA 96 69 00 04 00 00 90 94 AA AA AA 96 69 00 04 00 00 80 84",
     [Reply, Reply]),
    ("a frame with a trailing partial one", "AA AA AA 96 69 00 04 00 00 90 94 AA AA AA 96 69 00 08 00",
     [Reply, Truncated]),
]


@pytest.mark.parametrize(("what", "stream", "kinds"), BAD_VECTORS, ids=[v[0] for v in BAD_VECTORS])
def test_bad_vectors(what: str, stream: str, kinds: list[type]) -> None:
    assert [type(event) for event in decode_all(H(stream))] == kinds


def test_a_corrupted_length_does_not_swallow_the_next_frame() -> None:
    stream = H("AA AA AA 96 69 00 09 00 00 90 94") + FOUND  # says 16 bytes, holds 11
    events = decode_all(stream)
    assert isinstance(events[0], BadChecksum)
    assert events[-1] == Reply(0, 0, Status.CARD_FOUND, bytes(4))


def test_error_events_say_why() -> None:
    reasons = [e.reason for e in decode_all(H("AA AA AA 96 69 00 04 00 00 41 46 00 01"))
               if isinstance(e, FrameError)]
    assert reasons == ["checksum 46 where the 11-byte frame gives 45", "8 stray byte(s) outside a frame"]
    assert "length field 2" in BadLength(2, 4).reason
    assert Truncated(8, 11).reason == "truncated frame: 8 of 11 bytes"


def test_a_frame_fed_byte_by_byte() -> None:
    decoder = FrameDecoder(Reply)
    frame = encode_reply(Status.OK, bytes(range(256)) * 5)
    for i, byte in enumerate(frame):
        decoder.feed(bytes((byte,)))
        event = decoder.next_event()
        if i < len(frame) - 1:
            assert event is NEED_DATA
    assert event == Reply(0, 0, Status.OK, bytes(range(256)) * 5)
    assert decoder.pending == 0 and decoder.flush() is None


def test_sw1_sw2_are_kept_but_status_is_sw3() -> None:
    reply = decode_all(encode_reply(0x41, sw1=0x6A, sw2=0x82))[0]
    assert isinstance(reply, Reply)
    assert (reply.sw1, reply.sw2, reply.status, reply.meaning) == (0x6A, 0x82, Status.READ_FAILED, "read failed")


def test_every_status_has_a_meaning() -> None:
    for status in Status:
        assert status.meaning and status.meaning_zh
        assert describe_status(status) == status.meaning
    assert describe_status(0x55) == "unknown status 55"
    assert Reply(0, 0, 0x55, b"").status is None


def test_misuse_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        encode(Command.READ, bytes(MAX_LEN))
    decoder = FrameDecoder(Reply)
    with pytest.raises(UsageError):
        for _ in range(2000):
            decoder.feed(bytes(1024))  # fed and never drained


@given(st.binary(max_size=3000))
def test_checksum_is_the_xor_of_all_bytes(data: bytes) -> None:
    assert checksum(data) == functools.reduce(operator.xor, data, 0)


replies = st.builds(
    lambda sw3, data: encode_reply(sw3, data),
    st.integers(0, 255),
    st.binary(max_size=300),
)
noise = st.binary(max_size=40).map(lambda b: b.replace(b"\xaa", b"\x00"))  # no preamble can form


def feed_in_pieces(decoder: FrameDecoder[Reply], stream: bytes, cuts: list[int]) -> list[object]:
    events: list[object] = []
    start = 0
    for cut in sorted({c % (len(stream) + 1) for c in cuts}) + [len(stream)]:
        decoder.feed(stream[start:cut])
        events += decoder.events()
        start = cut
    return events


@given(st.lists(st.tuples(noise, replies), max_size=8), st.lists(st.integers(0, 10_000), max_size=20))
def test_frames_between_noise_in_any_pieces(parts: list[tuple[bytes, bytes]], cuts: list[int]) -> None:
    stream = b"".join(junk + frame for junk, frame in parts)
    events = feed_in_pieces(FrameDecoder(Reply), stream, cuts)
    assert [e for e in events if not isinstance(e, StrayBytes)] == [decode_all(f)[0] for _, f in parts]
    assert sum(e.count for e in events if isinstance(e, StrayBytes)) == sum(len(j) for j, _ in parts)


@given(st.binary(max_size=2000), st.lists(st.integers(0, 10_000), max_size=20))
def test_arbitrary_bytes_give_only_codec_events(stream: bytes, cuts: list[int]) -> None:
    decoder = FrameDecoder(Reply)
    events = feed_in_pieces(decoder, stream, cuts)
    assert all(isinstance(e, Reply | FrameError) for e in events)
    assert decoder.pending <= len(stream)
    decoder.flush()
    decoder.feed(OK)
    assert list(decoder.events()) == [Reply(0, 0, Status.OK, b"")]


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    stream = bytearray(b"".join(draw(st.lists(replies, min_size=1, max_size=5))))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(stream)))
        action = draw(st.sampled_from(["flip", "drop", "insert"]))
        if action == "flip" and at < len(stream):
            stream[at] ^= draw(st.integers(1, 255))
        elif action == "drop":
            del stream[at : at + draw(st.integers(1, 20))]
        else:
            stream[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(stream)


@given(mutated_streams(), st.lists(st.integers(0, 10_000), max_size=10))
def test_mutated_streams_resynchronise_without_a_flush(stream: bytes, cuts: list[int]) -> None:
    """Whatever came before, a valid frame that follows enough bytes is decoded: a bad length can hold
    the decoder for at most MAX_LEN bytes, never longer."""
    decoder = FrameDecoder(Reply)
    events = feed_in_pieces(decoder, stream + bytes(MAX_LEN + HEADER) + FOUND, cuts)
    assert all(isinstance(e, Reply | FrameError) for e in events)
    assert events[-1] == Reply(0, 0, Status.CARD_FOUND, bytes(4))

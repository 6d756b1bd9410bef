"""The GA/T 467 frame codec: commands to bytes, a byte stream to replies. No I/O, no clock.

Theory of operation. Every frame is `AA AA AA 96 69 | LEN (2, big-endian) | body | CHK`, where LEN
counts the body and CHK, and CHK is the XOR of the LEN bytes and the body. A host sends `CMD PARA
DATA…` bodies and the reader answers `SW1 SW2 SW3 DATA…`; SW3 is the reader's status.

`FrameDecoder` is fed whatever the port delivered (`feed`) and handed back one event at a time
(`next_event`, or `events()` for all that are ready): a `Reply` (or a `Request`, on the reader's side),
a `FrameError` for what it had to throw away, or `NEED_DATA`. It hunts for the preamble, reports the
bytes it skipped, cuts the frame by LEN and checks LEN's bounds and the checksum. After a bad frame it
resumes the hunt just past that frame's preamble, so a corrupted LEN cannot swallow the frames that
follow. Every call either consumes bytes or answers `NEED_DATA`, so it cannot loop; a frame that never
completes is the transport's business: after its timeout it calls `flush()`, which reports it.

The errors of the ID-card codec, split by whose fault they are.

`PeerError`: the reader sent bytes that do not make sense (a wrong length field, an unknown card type,
a date that is not a date). `UsageError`: this program asked for something impossible (a name too long
for its field). Frame-level problems (bad checksum, bad length) are not raised: the decoder reports
them as events, see `codec.FrameError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import ClassVar, Generic, TypeVar

from drivers.base import FrameError


class IdCardError(Exception):
    """Base of every error raised by the ID-card codec."""


class PeerError(IdCardError):
    """The reader's bytes are malformed; the message says what is wrong with them."""


class UsageError(IdCardError, ValueError):
    """A local misuse of the codec (e.g. a value that does not fit its field)."""


PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
HEADER = len(PREAMBLE) + 2  # preamble and LEN: a frame is HEADER + LEN bytes
MAX_LEN = 4096  # the largest real reply (text, photo, 1024 fingerprint bytes) has LEN 2314
MAX_BUFFER = 1 << 20  # feed() refuses to hold more than this undrained


class Command(Enum):
    """Every host command, as its (CMD, PARA) pair."""

    RESET = (0x10, 0xFF)
    MODULE_STATUS = (0x11, 0xFF)
    MODULE_ID = (0x12, 0xFF)
    FIND = (0x20, 0x01)
    SELECT = (0x20, 0x02)
    READ = (0x30, 0x01)  # text + photo
    READ_NEWEST_ADDRESS = (0x30, 0x03)
    READ_WITH_FINGERPRINTS = (0x30, 0x10)  # text + photo + fingerprints
    SET_BAUD_115200 = (0x60, 0x00)  # the set-baud commands rest on a single source
    SET_BAUD_57600 = (0x60, 0x01)
    SET_BAUD_38400 = (0x60, 0x02)
    SET_BAUD_19200 = (0x60, 0x03)
    SET_BAUD_9600 = (0x60, 0x04)


_COMMANDS = {command.value: command for command in Command}
SET_BAUD = {115200: Command.SET_BAUD_115200, 57600: Command.SET_BAUD_57600,
            38400: Command.SET_BAUD_38400, 19200: Command.SET_BAUD_19200, 9600: Command.SET_BAUD_9600}


class Status(IntEnum):
    """The reader's status byte SW3. Decide on SW3; SW1/SW2 belong to the card."""

    OK = 0x90
    CARD_FOUND = 0x9F
    NO_CONTENT = 0x91
    FIND_FAILED = 0x80
    SELECT_FAILED = 0x81
    READ_FAILED = 0x41
    CHECKSUM_ERROR = 0x10
    LENGTH_ERROR = 0x11
    BAD_COMMAND = 0x21
    NOT_PERMITTED = 0x23
    UNKNOWN_ERROR = 0x24
    AUTH_CARD_FAILED = 0x31
    AUTH_MODULE_FAILED = 0x32
    VERIFY_FAILED = 0x33
    FINGERPRINT_ERROR = 0x37
    DATA_LENGTH_ERROR = 0x3F
    UNKNOWN_CARD_TYPE = 0x40
    RANDOM_FAILED = 0x47
    SELF_TEST_FAILED = 0x60
    NOT_AUTHORISED = 0x66

    @property
    def meaning(self) -> str:
        return _MEANINGS[self][0]

    @property
    def meaning_zh(self) -> str:
        return _MEANINGS[self][1]


_MEANINGS: dict[Status, tuple[str, str]] = {
    Status.OK: ("ok", "操作成功"),
    Status.CARD_FOUND: ("card found", "寻找证/卡成功"),
    Status.NO_CONTENT: ("no content (e.g. no appended address)", "证/卡中此项无内容"),
    Status.FIND_FAILED: ("find failed (no card)", "寻找证/卡失败"),
    Status.SELECT_FAILED: ("select failed", "选取证/卡失败"),
    Status.READ_FAILED: ("read failed", "读证/卡操作失败"),
    Status.CHECKSUM_ERROR: ("command checksum error", "接收业务终端数据的校验和错"),
    Status.LENGTH_ERROR: ("command length error", "接收业务终端数据的长度错"),
    Status.BAD_COMMAND: ("bad command", "接收业务终端的命令错误"),
    Status.NOT_PERMITTED: ("command not permitted", "越权操作"),
    Status.UNKNOWN_ERROR: ("unknown error", "无法识别的错误"),
    Status.AUTH_CARD_FAILED: ("card authentication of the module failed", "证/卡认证机具失败"),
    Status.AUTH_MODULE_FAILED: ("module authentication of the card failed", "机具认证证/卡失败"),
    Status.VERIFY_FAILED: ("information verification failed", "信息验证错误"),
    Status.FINGERPRINT_ERROR: ("fingerprint error", "指纹信息验证错误"),
    Status.DATA_LENGTH_ERROR: ("information length error", "信息长度错误"),
    Status.UNKNOWN_CARD_TYPE: ("unknown card type", "无法识别的证/卡类型"),
    Status.RANDOM_FAILED: ("random number failed", "取随机数失败"),
    Status.SELF_TEST_FAILED: ("module self-test failed", "模块自检失败"),
    Status.NOT_AUTHORISED: ("module not authorised", "模块未经授权"),
}


def describe_status(sw3: int) -> str:
    """SW3 in words, also for a code no document lists."""
    try:
        return Status(sw3).meaning
    except ValueError:
        return f"unknown status {sw3:02x}"


def checksum(data: bytes | bytearray | memoryview) -> int:
    """XOR of all bytes, computed by folding the bytes as one integer (C speed, no Python loop)."""
    value = int.from_bytes(data, "little")
    width = len(data)
    while width > 1:
        half = (width + 1) // 2
        value = (value ^ (value >> (8 * half))) & ((1 << (8 * half)) - 1)
        width = half
    return value


def _frame(body: bytes) -> bytes:
    length = len(body) + 1
    if length > MAX_LEN:
        raise UsageError(f"a frame body of {len(body)} bytes exceeds the protocol's {MAX_LEN - 1}")
    head = length.to_bytes(2, "big")
    return PREAMBLE + head + body + bytes((checksum(head + body),))


def encode(command: Command, data: bytes = b"") -> bytes:
    """The request frame for `command` (host → reader)."""
    return _frame(bytes(command.value) + data)


def encode_reply(sw3: int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    """A reply frame (reader → host), for simulators and tests."""
    return _frame(bytes((sw1, sw2, sw3)) + data)


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply frame whose length and checksum were right."""

    MIN_LEN: ClassVar[int] = 4  # SW1 SW2 SW3 CHK

    sw1: int
    sw2: int
    sw3: int
    data: bytes

    @classmethod
    def from_body(cls, body: bytes) -> Reply:
        return cls(body[0], body[1], body[2], body[3:])

    @property
    def status(self) -> Status | None:
        """SW3 as a known `Status`, or None for a code no document lists."""
        try:
            return Status(self.sw3)
        except ValueError:
            return None

    @property
    def meaning(self) -> str:
        return describe_status(self.sw3)


@dataclass(frozen=True, slots=True)
class Request:
    """A request frame (what a reader, or the simulator, receives)."""

    MIN_LEN: ClassVar[int] = 3  # CMD PARA CHK

    cmd: int
    para: int
    data: bytes

    @classmethod
    def from_body(cls, body: bytes) -> Request:
        return cls(body[0], body[1], body[2:])

    @property
    def command(self) -> Command | None:
        return _COMMANDS.get((self.cmd, self.para))


@dataclass(frozen=True, slots=True)
class StrayBytes(FrameError):
    """Bytes outside any frame (line noise, a reader's chatter)."""

    count: int

    @property
    def reason(self) -> str:
        return f"{self.count} stray byte(s) outside a frame"


@dataclass(frozen=True, slots=True)
class BadLength(FrameError):
    """A LEN field outside what the protocol allows."""

    length: int
    minimum: int

    @property
    def reason(self) -> str:
        return f"length field {self.length} outside {self.minimum}..{MAX_LEN}"


@dataclass(frozen=True, slots=True)
class BadChecksum(FrameError):
    """A complete frame whose CHK does not match its bytes."""

    expected: int
    received: int
    size: int

    @property
    def reason(self) -> str:
        return (f"checksum {self.received:02x} where the {self.size}-byte frame "
                f"gives {self.expected:02x}")


@dataclass(frozen=True, slots=True)
class Truncated(FrameError):
    """A frame that stopped before its length said it ends (reported by `flush`)."""

    received: int
    expected: int | None  # None when even LEN did not arrive

    @property
    def reason(self) -> str:
        if self.expected is None:
            return f"truncated frame: {self.received} byte(s), the length field is missing"
        return f"truncated frame: {self.received} of {self.expected} bytes"


class NeedData:
    """The decoder's answer when it holds no complete frame."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()
F = TypeVar("F", Reply, Request)


def _preamble_prefix_at_end(buf: bytearray) -> int:
    """How many trailing bytes could be the start of a preamble still arriving."""
    for size in range(min(len(PREAMBLE) - 1, len(buf)), 0, -1):
        if buf.endswith(PREAMBLE[:size]):
            return size
    return 0


class FrameDecoder(Generic[F]):
    """Cuts a byte stream into frames: `FrameDecoder(Reply)` on the host, `FrameDecoder(Request)` in a
    reader (the simulator)."""

    def __init__(self, frame: type[F]) -> None:
        self._frame: type[F] = frame
        self._min_len = frame.MIN_LEN
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held: the start of a frame still arriving, or not yet examined."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        if len(self._buf) + len(data) > MAX_BUFFER:
            raise UsageError("the decoder is fed without being drained: call next_event() until NEED_DATA")
        self._buf += data

    def clear(self) -> None:
        """Forget everything held (before a new exchange; nothing is reported)."""
        self._buf.clear()

    def flush(self) -> FrameError | None:
        """Give up on what is held (the peer went quiet) and say what it was."""
        buf = self._buf
        if not buf:
            return None
        error: FrameError
        if PREAMBLE.startswith(buf[: len(PREAMBLE)]):
            expected = HEADER + int.from_bytes(buf[5:7], "big") if len(buf) >= HEADER else None
            error = Truncated(len(buf), expected)
        else:
            error = StrayBytes(len(buf))
        buf.clear()
        return error

    def events(self) -> Iterator[F | FrameError]:
        """Every event that is ready now."""
        while not isinstance(event := self.next_event(), NeedData):
            yield event

    def next_event(self) -> F | FrameError | NeedData:
        buf = self._buf
        start = buf.find(PREAMBLE)
        if start < 0:
            stray = len(buf) - _preamble_prefix_at_end(buf)
            if stray:
                del buf[:stray]
                return StrayBytes(stray)
            return NEED_DATA
        if start:
            del buf[:start]
            return StrayBytes(start)
        if len(buf) < HEADER:
            return NEED_DATA
        length = (buf[5] << 8) | buf[6]
        if not self._min_len <= length <= MAX_LEN:
            del buf[: len(PREAMBLE)]
            return BadLength(length, self._min_len)
        end = HEADER + length
        if len(buf) < end:
            return NEED_DATA
        expected = checksum(buf[5 : end - 1])
        if expected != buf[end - 1]:
            error = BadChecksum(expected, buf[end - 1], end)
            del buf[: len(PREAMBLE)]
            return error
        body = bytes(buf[HEADER : end - 1])
        del buf[:end]
        return self._frame.from_body(body)

"""The card holder's record: the 256-byte text block of the four card types, parsed and encoded.

Theory of operation. The text block is UCS-2 little-endian, every field padded with spaces to a fixed
width at a fixed offset; the character at offset 248 says which layout applies (space: resident card,
`J`: HK/Macau/Taiwan residence permit, `I`: foreign permanent resident card 2017, `Y`: the same card,
2023). A layout is a table of (field, offset, bytes, kind) rows, read and written by the same two
functions, so parsing and encoding cannot drift apart. Fields are sliced by offset and only trailing
padding is removed: English names and addresses keep their inner spaces. A field listed twice (the
2023 card's English name) continues in the second slot.

Also here: the code tables printed on the card as codes, sex (GB/T 2261.1) and nation (GB 3304),
looked up by code, never by position (public tables with typos and shifted arrays exist); and the
check characters of the card numbers. Resident cards, the HK/Macau/Taiwan permit and the 2023
foreign card use GB 11643's MOD 11-2 (contract.idnumber). The 2017 foreign card number (3 letters of
nationality, 4-digit office, YYMMDD, one digit, one check digit) uses the 7-3-1 check of
machine-readable travel documents (ICAO 9303): digits count as themselves, letters A-Z as 10-35,
the weighted sum modulo 10 is the check digit.

Also here: what the data of a reply holds, by command. A card read (30 01) answers `text length,
photo length` (2 bytes each, big-endian), then the text and the photo; with fingerprints (30 10) a
third length and the fingerprint bytes follow. The lengths are read from the reply, never assumed,
and must account for every byte. The newest-address read (30 03) answers the appended address as
UCS-2 text (70 bytes on the cards seen; the frame's LEN says how many).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    computed_field,
    model_serializer,
)

from contract.idnumber import is_valid, mask
from drivers.idcard.codec import PeerError, Reply, Status, UsageError
from drivers.idcard.photo import NoPhotoDecoder, PhotoDecoder, decode_photo, register_photo_decoder

ADDRESS_SIZE = 70


@dataclass(frozen=True, slots=True)
class CardRead:
    """The three parts of a card read, still raw."""

    text: bytes
    photo: bytes
    fingerprints: bytes | None  # None: the command did not ask for them


def parse_card_read(data: bytes, with_fingerprints: bool) -> CardRead:
    """Split a card read's data by its length fields."""
    fields = 3 if with_fingerprints else 2
    head = 2 * fields
    if len(data) < head:
        raise PeerError(f"a card read holds {len(data)} bytes, too few for its {fields} length fields")
    lengths = [int.from_bytes(data[2 * i : 2 * i + 2], "big") for i in range(fields)]
    if head + sum(lengths) != len(data):
        raise PeerError(f"the length fields {lengths} need {head + sum(lengths)} bytes; "
                        f"the reply holds {len(data)}")
    cuts = [head]
    for length in lengths:
        cuts.append(cuts[-1] + length)
    parts = [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    return CardRead(parts[0], parts[1], parts[2] if with_fingerprints else None)


def encode_card_read(read: CardRead) -> bytes:
    parts = [read.text, read.photo] if read.fingerprints is None else [read.text, read.photo,
                                                                        read.fingerprints]
    if any(len(part) > 0xFFFF for part in parts):
        raise UsageError("a card read part is longer than a 2-byte length field can say")
    return b"".join(len(part).to_bytes(2, "big") for part in parts) + b"".join(parts)


def card_from_read(data: bytes, with_fingerprints: bool) -> IdCard:
    """The card in a successful read's data."""
    read = parse_card_read(data, with_fingerprints)
    return parse_text(read.text, read.photo, read.fingerprints or b"")


def card_read_data(card: IdCard, with_fingerprints: bool) -> bytes:
    """The data a reader sends for `card` (the simulator's side of `card_from_read`)."""
    fingerprints = card.fingerprints if with_fingerprints else None
    return encode_card_read(CardRead(encode_text(card), card.photo, fingerprints))


def parse_address(data: bytes) -> str:
    if len(data) % 2:
        raise PeerError(f"an address of {len(data)} bytes is not UCS-2 text")
    try:
        return data.decode("utf-16-le").rstrip(" \x00")
    except UnicodeDecodeError as exc:
        raise PeerError("the address is not UCS-2 text") from exc


def encode_address(address: str) -> bytes:
    if len(address) > ADDRESS_SIZE // 2:
        raise UsageError(f"an appended address holds {ADDRESS_SIZE // 2} characters")
    return address.ljust(ADDRESS_SIZE // 2).encode("utf-16-le")


def guess_card(reply: Reply) -> IdCard | None:
    """The card in a captured reply whose command is unknown (the field tool): tried with two and
    with three length fields; None when the data is not a card read by either."""
    if reply.sw3 != Status.OK:
        return None
    for with_fingerprints in (False, True):
        head = 6 if with_fingerprints else 4
        lengths = [int.from_bytes(reply.data[i : i + 2], "big") for i in range(0, head, 2)]
        if len(reply.data) >= head and head + sum(lengths) == len(reply.data):
            return card_from_read(reply.data, with_fingerprints)
    return None


SEX: dict[str, str] = {"0": "未知", "1": "男", "2": "女", "9": "未说明"}

NATIONS: dict[str, str] = {
    "01": "汉", "02": "蒙古", "03": "回", "04": "藏", "05": "维吾尔", "06": "苗", "07": "彝", "08": "壮",
    "09": "布依", "10": "朝鲜", "11": "满", "12": "侗", "13": "瑶", "14": "白", "15": "土家",
    "16": "哈尼", "17": "哈萨克", "18": "傣", "19": "黎", "20": "傈僳", "21": "佤", "22": "畲",
    "23": "高山", "24": "拉祜", "25": "水", "26": "东乡", "27": "纳西", "28": "景颇", "29": "柯尔克孜",
    "30": "土", "31": "达斡尔", "32": "仫佬", "33": "羌", "34": "布朗", "35": "撒拉", "36": "毛南",
    "37": "仡佬", "38": "锡伯", "39": "阿昌", "40": "普米", "41": "塔吉克", "42": "怒", "43": "乌孜别克",
    "44": "俄罗斯", "45": "鄂温克", "46": "德昂", "47": "保安", "48": "裕固", "49": "京", "50": "塔塔尔",
    "51": "独龙", "52": "鄂伦春", "53": "赫哲", "54": "门巴", "55": "珞巴", "56": "基诺",
    "97": "其他", "98": "外国血统中国籍人士",
}


def sex_text(code: str) -> str:
    return SEX.get(code, f"未知代码 {code}")


def nation_text(code: str) -> str | None:
    return NATIONS.get(code)


_FOREIGN_2017 = re.compile(r"^[A-Z]{3}\d{12}$")
_WEIGHTS_731 = (7, 3, 1)


def check_digit_731(text: str) -> str:
    """The 7-3-1 check digit over digits and capital letters."""
    total = 0
    for i, char in enumerate(text):
        if "0" <= char <= "9":
            value = ord(char) - ord("0")
        elif "A" <= char <= "Z":
            value = ord(char) - ord("A") + 10
        else:
            raise ValueError(f"{char!r} has no 7-3-1 value")
        total += value * _WEIGHTS_731[i % 3]
    return str(total % 10)


def foreign_2017_ok(number: str) -> bool:
    """Whether a 2017 foreign permanent resident card number is well formed and its check matches."""
    n = number.strip().upper()
    return bool(_FOREIGN_2017.match(n)) and check_digit_731(n[:14]) == n[14]


def mod11_2_ok(number: str) -> bool:
    """GB 11643 check (also the HK/Macau/Taiwan permit and the 2023 foreign card); lowercase x is X."""
    return is_valid(number)


__all__ = ["CardType", "IdCard", "parse_text", "encode_text", "TEXT_SIZE", "NoPhotoDecoder",
           "PhotoDecoder", "register_photo_decoder"]

TEXT_SIZE = 256
FOREVER = "长期"  # the "valid to" of a card without end date
_TYPE_OFFSET = 248


class CardType(StrEnum):
    RESIDENT = "resident"  # 居民身份证
    HK_MO_TW = "hk_mo_tw"  # 港澳台居民居住证 (J)
    FOREIGN_2017 = "foreign_2017"  # 外国人永久居留身份证 2017 (I)
    FOREIGN_2023 = "foreign_2023"  # 外国人永久居留身份证 2023 (Y), single source


_MARKS = {CardType.RESIDENT: " ", CardType.HK_MO_TW: "J", CardType.FOREIGN_2017: "I",
          CardType.FOREIGN_2023: "Y"}
_TYPES = {mark: card_type for card_type, mark in _MARKS.items()}

Kind = Literal["text", "date", "end", "count"]
_Row = tuple[str, int, int, Kind]

_COMMON_TAIL: list[_Row] = [("valid_from", 188, 16, "date"), ("valid_to", 204, 16, "end")]
_LAYOUTS: dict[CardType, list[_Row]] = {
    CardType.RESIDENT: [
        ("name", 0, 30, "text"), ("sex", 30, 2, "text"), ("nation", 32, 4, "text"),
        ("birth", 36, 16, "date"), ("address", 52, 70, "text"), ("id_number", 122, 36, "text"),
        ("issuer", 158, 30, "text"), *_COMMON_TAIL,
    ],
    CardType.HK_MO_TW: [
        ("name", 0, 30, "text"), ("sex", 30, 2, "text"), ("birth", 36, 16, "date"),
        ("address", 52, 70, "text"), ("id_number", 122, 36, "text"), ("issuer", 158, 30, "text"),
        *_COMMON_TAIL, ("pass_number", 220, 18, "text"), ("issue_count", 238, 4, "count"),
    ],
    CardType.FOREIGN_2017: [
        ("name_en", 0, 120, "text"), ("sex", 120, 2, "text"), ("id_number", 122, 30, "text"),
        ("nationality", 152, 6, "text"), ("name", 158, 30, "text"), *_COMMON_TAIL,
        ("birth", 220, 16, "date"), ("card_version", 236, 4, "text"), ("issuer", 240, 8, "text"),
    ],
    CardType.FOREIGN_2023: [
        ("name", 0, 30, "text"), ("sex", 30, 2, "text"), ("renewal_count", 32, 4, "count"),
        ("birth", 36, 16, "date"), ("name_en", 52, 70, "text"), ("id_number", 122, 36, "text"),
        ("issuer", 158, 30, "text"), *_COMMON_TAIL, ("name_en", 220, 22, "text"),
        ("nationality", 242, 6, "text"), ("previous_ref", 250, 6, "text"),
    ],
}


class IdCard(BaseModel):
    """One card as read from its chip. `photo` and `fingerprints` are raw bytes kept out of repr and
    out of serialisation unless asked: `model_dump(context={"biometrics": True})`."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    type: CardType
    name: str  # Chinese name; may be empty on a 2017 foreign card
    name_en: str | None = None  # foreign cards, inner spaces kept
    sex: str  # GB/T 2261.1 code: 0 unknown, 1 male, 2 female, 9 not stated
    nation: str | None = None  # GB 3304 code, resident cards
    nationality: str | None = None  # foreign cards: the country code printed on the card
    birth: date
    address: str | None = None  # resident and HK/Macau/Taiwan cards
    id_number: str
    issuer: str | None = None  # issuing authority (2017 foreign card: the authority's code)
    valid_from: date
    valid_to: date | None  # None: 长期, no end date
    pass_number: str | None = None  # J: the travel permit's number
    issue_count: int | None = None  # J: how many times the permit was issued
    card_version: str | None = None  # I
    renewal_count: int | None = None  # Y
    previous_ref: str | None = None  # Y: link to the holder's old card number (single source)
    newest_address: str | None = None  # the appended address, when the reader was asked for it
    photo: bytes = Field(default=b"", repr=False)  # WLT, see drivers.idcard.photo
    fingerprints: bytes = Field(default=b"", repr=False)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sex_text(self) -> str:
        return sex_text(self.sex)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def nation_text(self) -> str | None:
        return nation_text(self.nation) if self.nation is not None else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id_checksum_ok(self) -> bool:
        if self.type is CardType.FOREIGN_2017:
            return foreign_2017_ok(self.id_number)
        return mod11_2_ok(self.id_number)

    @property
    def id_masked(self) -> str:
        return mask(self.id_number)

    def expired(self, on: date) -> bool:
        """Whether the card is out of date on `on` (the last valid day still counts)."""
        return self.valid_to is not None and on > self.valid_to

    def photo_image(self, decoder: str | None = None) -> bytes:
        """The photo as an image file, through a registered WLT decoder (none ships)."""
        return decode_photo(self.photo, decoder)

    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            yield key, (mask(value) if key == "id_number" else value)

    @model_serializer(mode="wrap")
    def _without_biometrics(self, handler: SerializerFunctionWrapHandler,
                            info: SerializationInfo) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not (isinstance(info.context, dict) and info.context.get("biometrics")):
            data.pop("photo", None)
            data.pop("fingerprints", None)
        return data


def _decode_field(block: bytes, name: str, offset: int, size: int) -> str:
    try:
        return block[offset : offset + size].decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise PeerError(f"field {name} at {offset} is not UCS-2 text") from exc


def _convert(name: str, kind: Kind, text: str) -> Any:
    if kind == "text":
        return text
    if kind == "count":
        if not text:
            return None
        if not (text.isascii() and text.isdigit()):  # int() refuses digits such as "²"
            raise PeerError(f"field {name} holds {text!r}, not a count")
        return int(text)
    if kind == "end" and text == FOREVER:
        return None
    if len(text) != 8 or not text.isdigit():
        raise PeerError(f"field {name} holds {text!r}, not a YYYYMMDD date")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise PeerError(f"field {name} holds {text!r}, not a calendar date") from exc


def parse_text(block: bytes, photo: bytes = b"", fingerprints: bytes = b"") -> IdCard:
    """The 256-byte text block (plus the raw photo and fingerprints) as an `IdCard`."""
    if len(block) != TEXT_SIZE:
        raise PeerError(f"the text block has {len(block)} bytes, not {TEXT_SIZE}")
    mark = _decode_field(block, "card type", _TYPE_OFFSET, 2)
    card_type = _TYPES.get(mark)
    if card_type is None:
        raise PeerError(f"unknown card type mark {mark!r} at offset {_TYPE_OFFSET}")
    raw: dict[str, str] = {}
    kinds: dict[str, Kind] = {}
    for name, offset, size, kind in _LAYOUTS[card_type]:
        raw[name] = raw.get(name, "") + _decode_field(block, name, offset, size)
        kinds[name] = kind
    values = {name: _convert(name, kinds[name], text.rstrip(" \x00")) for name, text in raw.items()}
    try:
        return IdCard(type=card_type, photo=photo, fingerprints=fingerprints, **values)
    except ValidationError as exc:
        raise PeerError(f"the text block does not make a card: {exc.errors()[0]['msg']}") from exc


def _field_text(card: IdCard, name: str, kind: Kind, width: int) -> str:
    value = getattr(card, name)
    if value is None:
        return FOREVER if kind == "end" else ""
    if isinstance(value, date):
        return f"{value.year:04d}{value:%m%d}"  # strftime does not pad years before 1000
    if kind == "count":
        return f"{value:0{width}d}"
    return str(value)


def encode_text(card: IdCard) -> bytes:
    """The 256-byte text block of `card` (for the simulator and round-trip tests)."""
    chars = [" "] * (TEXT_SIZE // 2)
    chars[_TYPE_OFFSET // 2] = _MARKS[card.type]
    layout = _LAYOUTS[card.type]
    widths: dict[str, int] = {}
    for name, _, size, _ in layout:
        widths[name] = widths.get(name, 0) + size // 2
    rest = {name: _field_text(card, name, kind, widths[name]) for name, _, _, kind in layout}
    for name, text in rest.items():
        if len(text) > widths[name]:
            raise UsageError(f"{name} has {len(text)} characters; the card holds {widths[name]}")
        if any(ord(c) > 0xFFFF or 0xD800 <= ord(c) <= 0xDFFF for c in text):
            raise UsageError(f"{name} holds a character outside UCS-2")
    for name, offset, size, _ in layout:
        piece, rest[name] = rest[name][: size // 2], rest[name][size // 2 :]
        chars[offset // 2 : offset // 2 + len(piece)] = piece
    return "".join(chars).encode("utf-16-le")

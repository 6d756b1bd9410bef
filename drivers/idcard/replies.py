"""What the data of a reply holds, by command. Pure, like the frame codec.

A card read (30 01) answers `text length, photo length` (2 bytes each, big-endian), then the text and
the photo; with fingerprints (30 10) a third length and the fingerprint bytes follow. The lengths are
read from the reply, never assumed, and must account for every byte. The newest-address read (30 03)
answers the appended address as UCS-2 text (70 bytes on the cards seen; the frame's LEN says how many).
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.idcard.cards import IdCard, encode_text, parse_text
from drivers.idcard.codec import PeerError, Reply, Status, UsageError

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

"""The card photo: kept as the raw WLT bytes the card holds, with a plug-in point for a decoder.

WLT is a proprietary compressed format (102×126 pixels once decoded). No open decoder exists; every
vendor ships a closed library. This package ships none. A deployment that is licensed to use one wraps
it as a `PhotoDecoder` (WLT bytes in, an image file such as BMP or PNG out) and registers it:

    register_photo_decoder("vendor", my_wlt_to_bmp)
    image = card.photo_image()
"""

from __future__ import annotations

from typing import Protocol

from drivers.idcard.codec import UsageError


class PhotoDecoder(Protocol):
    def __call__(self, wlt: bytes) -> bytes:
        """Decode WLT bytes into an image file's bytes."""
        ...


class NoPhotoDecoder(UsageError, LookupError):
    """No WLT decoder is registered (none ships with this package)."""


_decoders: dict[str, PhotoDecoder] = {}


def register_photo_decoder(name: str, decoder: PhotoDecoder) -> None:
    _decoders[name] = decoder


def unregister_photo_decoder(name: str) -> None:
    _decoders.pop(name, None)


def photo_decoders() -> list[str]:
    return sorted(_decoders)


def decode_photo(wlt: bytes, name: str | None = None) -> bytes:
    """Decode with the decoder called `name`, or with the one registered last."""
    if not _decoders:
        raise NoPhotoDecoder("no WLT photo decoder is registered; none ships with this package")
    if name is None:
        return list(_decoders.values())[-1](wlt)
    if name not in _decoders:
        raise NoPhotoDecoder(f"no WLT photo decoder called {name!r}; registered: {photo_decoders()}")
    return _decoders[name](wlt)

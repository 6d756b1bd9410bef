"""The WLT photo plug-in point (no decoder ships)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drivers.idcard.deck import synthetic_deck
from drivers.idcard.photo import NoPhotoDecoder, photo_decoders, register_photo_decoder, unregister_photo_decoder


@pytest.fixture
def fake_decoder() -> Iterator[None]:
    register_photo_decoder("fake", lambda wlt: b"BM" + wlt[:4])
    yield
    unregister_photo_decoder("fake")


def test_no_decoder_ships() -> None:
    assert photo_decoders() == []
    with pytest.raises(NoPhotoDecoder, match="none ships"):
        synthetic_deck()[0].photo_image()


def test_a_registered_decoder_is_used(fake_decoder: None) -> None:
    card = synthetic_deck()[0]
    assert card.photo_image() == b"BM" + card.photo[:4]
    assert card.photo_image("fake") == b"BM" + card.photo[:4]
    with pytest.raises(NoPhotoDecoder, match="'other'"):
        card.photo_image("other")

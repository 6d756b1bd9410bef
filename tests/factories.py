"""Builders for contract messages in tests (synthetic people only)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from contract import signing
from contract.messages import (
    CheckpointKind,
    CodeColour,
    CodeInput,
    ColourSource,
    Decision,
    DeviceState,
    IdSource,
    Inputs,
    Metrics,
    PersonInput,
    Reason,
    Status,
    TemperatureInput,
    Verdict,
)

SYNTHETIC_ID = "11010519491231002X"  # the worked example of GB 11643


def verdict(seq: int = 1, site: str = "site-a", device: str = "box-a", **changes: Any) -> Verdict:
    base = Verdict(
        id=uuid.uuid4(),
        site=site,
        device=device,
        seq=seq,
        boot=1,
        device_time=datetime.now(UTC),
        kind=CheckpointKind.TRAFFIC,
        inputs=Inputs(
            person=PersonInput(source=IdSource.CARD, pseudonym="ab" * 32, id_masked="110***********002X"),
            code=CodeInput(colour=CodeColour.GREEN, source=ColourSource.SIGNED_PAYLOAD),
            temperature=TemperatureInput(body_c=36.6, object_c=36.1, offset_c=0.5, sensor="gy-mcu"),
        ),
        decision=Decision.PASS,
        reasons=[Reason.CODE_GREEN, Reason.TEMP_NORMAL],
        policy_version="test-1",
    )
    return base.model_copy(update=changes)


DOWNLINK_SEED = "33" * 32  # central's downlink key in the tests (contract.signing)
DOWNLINK_KEY = signing.private_key(DOWNLINK_SEED)
CENTRAL_KEY = DOWNLINK_KEY.public_key().public_bytes_raw().hex()  # what a box holds as `central_key`


def status(
    state: str = "online", *, boot: int = 1, connection: int = 1, order: int = 1, epoch: str | None = "a" * 16,
    at: datetime | None = None, site: str = "site-a", device: str = "box-a", **changes: Any,
) -> Status:
    """A birth (or, with state="offline" and order=WILL_ORDER, a death) of one of a box's connections."""
    return Status(site=site, device=device, state=DeviceState(state), epoch=epoch, boot=boot, connection=connection,
                  order=order, device_time=at or datetime.now(UTC), **changes)


def metrics(*, boot: int = 1, connection: int = 1, order: int = 2, epoch: str | None = "a" * 16,
            at: datetime | None = None, site: str = "site-a", device: str = "box-a", **changes: Any) -> Metrics:
    figures: dict[str, Any] = {"passages": 0, "outbox_depth": 0, "outbox_capacity": 100, **changes}
    return Metrics(site=site, device=device, epoch=epoch, boot=boot, connection=connection, order=order,
                   device_time=at or datetime.now(UTC), **figures)

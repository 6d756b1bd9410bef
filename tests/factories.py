"""Builders for contract messages in tests (synthetic people only)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from contract.messages import (
    CheckpointKind,
    CodeColour,
    CodeInput,
    ColourSource,
    Decision,
    IdSource,
    Inputs,
    PersonInput,
    Reason,
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

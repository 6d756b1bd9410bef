"""What the ID-card driver reports to the agent. Device health uses drivers.events.DeviceHealth."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from drivers.idcard.cards import IdCard


class CardPresented(BaseModel):
    """A card was put on the reader and read: one event per presentation."""

    model_config = ConfigDict(frozen=True)

    card: IdCard
    device: str = ""  # the reader's configured name (its port by default)
    read_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

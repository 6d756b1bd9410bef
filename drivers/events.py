"""What every driver may report besides its own readings: the health of its device.

Device-specific events (a card presented, a temperature measured, a code scanned) live with their
driver; this module holds only what all drivers share, so the agent can treat them alike.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class DeviceKind(StrEnum):
    IDCARD = "idcard"
    THERMO = "thermo"
    CAMERA = "camera"


class HealthState(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"  # answering, but with errors (bad frames, failed reads)
    DISCONNECTED = "disconnected"  # port gone or device silent; the transport is retrying


class DeviceHealth(BaseModel):
    """A change in a device's health, reported by its transport."""

    model_config = ConfigDict(frozen=True)

    kind: DeviceKind
    name: str  # the configured device name, e.g. the port path or "camera0"
    state: HealthState
    detail: str = ""

"""The box's self-check: what `checkpoint doctor` runs on a box, and what a running agent reports when
central asks for its diagnostics (agent.diagnostics).

A running agent holds the serial ports and the camera, so it does not probe them as the command
line does (checkpoint/doctor): it says what its own devices report of themselves, how its camera
decodes, its broker connection, its outbox, the policy in force, the clock and the disk.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from agent import metrics
from contract.messages import Check, CheckState

DISK_FAIL_MB = 200
DISK_WARN_MB = 1000
_DEVICE_STATES = {"ok": CheckState.OK, "degraded": CheckState.WARN}  # anything else (disconnected): FAIL


def clock() -> Check:
    if metrics.clock_synchronised():
        return Check(name="clock", state=CheckState.OK, detail="synchronised (NTP)")
    return Check(
        name="clock",
        state=CheckState.FAIL,
        detail="not synchronised: the box has no battery clock; check NTP "
        "(timedatectl status) and that the network reaches a time server",
    )


def disk(path: Path) -> Check:
    """Free space where `path` (the outbox) is, or would be made."""
    existing = next(p for p in [path, *path.parents] if p.exists())
    free_mb = shutil.disk_usage(existing).free / 1e6
    detail = f"{free_mb:,.0f} MB free at {existing}"
    if free_mb < DISK_FAIL_MB:
        return Check(name="disk", state=CheckState.FAIL, detail=detail + f" (needs {DISK_FAIL_MB} MB at least)")
    return Check(name="disk", state=CheckState.WARN if free_mb < DISK_WARN_MB else CheckState.OK, detail=detail)


@dataclass(frozen=True)
class Running:
    """What a running agent knows of itself when it is asked."""

    outbox_path: Path
    outbox_depth: int
    outbox_capacity: int
    outbox_warn_fraction: float
    connections: int  # MQTT connections in this run (the request came over the current one)
    policy_version: str
    policy_rejected: str | None = None
    devices: dict[str, str] = field(default_factory=dict)  # device name -> health state
    decode_fps: float | None = None  # the camera's, if the box has one


def running(box: Running) -> list[Check]:
    """The running agent's checks, worst news in words a deployer can act on."""
    checks = [
        Check(name=f"device {name}", state=_DEVICE_STATES.get(state, CheckState.FAIL), detail=state)
        for name, state in sorted(box.devices.items())
    ]
    if box.decode_fps is not None:
        state = CheckState.OK if box.decode_fps > 0 else CheckState.WARN
        checks.append(Check(name="camera", state=state, detail=f"decoding {box.decode_fps:.1f} frames/s"))
    checks.append(Check(name="broker", state=CheckState.OK,
                        detail=f"connected (connection {box.connections} of this run)"))
    full = box.outbox_depth >= box.outbox_warn_fraction * box.outbox_capacity
    checks.append(Check(name="outbox", state=CheckState.WARN if full else CheckState.OK,
                        detail=f"{box.outbox_depth} of {box.outbox_capacity} verdicts waiting for central"))
    if box.policy_rejected:
        refused = f"{box.policy_version} in force; the last pushed was refused: {box.policy_rejected}"
        checks.append(Check(name="policy", state=CheckState.WARN, detail=refused[:1000]))
    else:
        checks.append(Check(name="policy", state=CheckState.OK, detail=f"{box.policy_version} in force"))
    return [*checks, clock(), disk(box.outbox_path)]

"""A running box's answer to central's diagnostics request: its doctor report (agent.doctor) and its
last log lines, signed with its key.

The log lines come from the agent's own log (common.logs.Tail), already masked as they were written
(never a full ID number). The answer must fit central's ingest limit: the box leaves out its oldest
lines until the signed message is under contract.messages.DIAGNOSTICS_MAX_BYTES, and says how many
it left out. A request is answered once (a copy of it, or one replayed by a stranger who saw it,
gets no second answer).
"""

from __future__ import annotations

import json
from collections import deque
from datetime import UTC, datetime

from contract import signing
from contract.messages import (
    DIAGNOSTICS_MAX_BYTES,
    LOG_LINE_CHARS,
    Check,
    Diagnostics,
    DiagnosticsRequest,
)

_REMEMBERED = 64  # request ids answered, for telling a copy from a new request


class Answered:
    """The ids of the requests answered lately."""

    def __init__(self) -> None:
        self._ids: deque[str] = deque(maxlen=_REMEMBERED)

    def first_time(self, request: DiagnosticsRequest) -> bool:
        """True once per request id."""
        key = str(request.id)
        if key in self._ids:
            return False
        self._ids.append(key)
        return True


def answer(
    key: bytes,
    request: DiagnosticsRequest,
    *,
    site: str,
    software: str,
    checks: list[Check],
    lines: list[str],
    refused_downlinks: int,
) -> bytes:
    """The signed answer, as it goes on the wire: under DIAGNOSTICS_MAX_BYTES, the newest lines kept."""
    lines = [line[:LOG_LINE_CHARS] for line in lines[-request.log_lines:]] if request.log_lines else []
    message = Diagnostics(site=site, device=request.device, request=request.id, device_time=datetime.now(UTC),
                          software=software, checks=checks, logs=[], refused_downlinks=refused_downlinks)
    room = DIAGNOSTICS_MAX_BYTES - len(signing.sign(key, message)) - 20  # the count of lines left out may grow
    kept = 0
    for line in reversed(lines):
        cost = len(json.dumps(line, ensure_ascii=False).encode()) + 1  # the line in the JSON array, its comma
        if cost > room:
            break
        room -= cost
        kept += 1
    message = message.model_copy(update={"logs": lines[len(lines) - kept:], "logs_left_out": len(lines) - kept})
    return signing.sign(key, message)

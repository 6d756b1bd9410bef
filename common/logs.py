"""Structured logs: one JSON object per line, and never a full ID number.

Every record passes through `IdRedactor`, which masks anything shaped like an ID number in the
message and in the extra fields, as a last line of defence behind the code's own masking.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

_ID_SHAPE = re.compile(r"(?<!\d)(\d{3})\d{11}(\d{3}[\dXx])(?![\dXx])")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def redact(text: str) -> str:
    return _ID_SHAPE.sub(lambda m: m.group(1) + "*" * 11 + m.group(2), text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "t": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(out, ensure_ascii=False, default=str))


def setup(level: str = "INFO", component: str = "") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if component:
        old = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = old(*args, **kwargs)
            record.component = component
            return record

        logging.setLogRecordFactory(factory)


class Tail(logging.Handler):
    """The last `capacity` log lines of this process, as written (JSON, ID numbers masked): what a box
    sends central when asked for its diagnostics, without reading the journal."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self._lines: deque[str] = deque(maxlen=capacity)
        self._lines_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - logging's own convention: a bad record never breaks the caller
            self.handleError(record)
            return
        with self._lines_lock:
            self._lines.append(line)

    def last(self, n: int) -> list[str]:
        """The newest `n` lines, oldest first."""
        with self._lines_lock:
            return list(self._lines)[-n:] if n > 0 else []


class Trouble:
    """A long-running loop's failures, told once per change of state: when it starts failing and
    when it works again; not a traceback on every turn while a database is away (nor a line for
    each message a server gives while it starts up).

    `failed(reason)` takes the failure in words; `traceback=True` adds the exception's (for what
    nobody expected, once)."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.log, self.what = logger, what
        self.failing = False

    def failed(self, reason: str, traceback: bool = False) -> None:
        if not self.failing:
            self.failing = True
            self.log.error(f"{self.what} failing; trying again", extra={"reason": reason}, exc_info=traceback)

    def ok(self) -> None:
        if self.failing:
            self.failing = False
            self.log.warning(f"{self.what} working again")

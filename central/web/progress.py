"""A long import over HTTP: the work in a thread of its own, its progress and outcome as lines of
JSON as they come (newline-delimited JSON), for the pages' progress bars; or one plain answer.

The work reports progress through the callable it is given; an exception that `refusal` turns into
(status, body) is the import's refusal, said as the last line (streamed) or as that HTTP error.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import HTTPException
from fastapi.responses import StreamingResponse

Progress = Callable[[dict[str, Any]], None]
Work = Callable[[Progress], dict[str, Any]]
Refusal = Callable[[Exception], "tuple[int, dict[str, Any]] | None"]  # None: not a refusal, a bug


def answer(work: Work, refusal: Refusal) -> dict[str, Any]:
    try:
        return work(lambda _event: None)
    except Exception as exc:
        refused = refusal(exc)
        if refused is None:
            raise
        raise HTTPException(refused[0], refused[1]) from None


def streamed(work: Work, refusal: Refusal, name: str) -> StreamingResponse:
    events: queue.Queue[tuple[bool, dict[str, Any]]] = queue.Queue()

    def run() -> None:
        try:
            events.put((True, {"done": work(lambda event: events.put((False, event)))}))
        except Exception as exc:  # noqa: BLE001 - said to the page, whatever it was
            refused = refusal(exc)
            events.put((True, refused[1] if refused else {"error": f"{type(exc).__name__}: {exc}"[:300]}))
            if refused is None:
                raise

    threading.Thread(target=run, name=name, daemon=True).start()

    def lines() -> Iterator[bytes]:
        while True:
            last, event = events.get()
            yield json.dumps(event, ensure_ascii=False).encode() + b"\n"
            if last:
                return

    return StreamingResponse(lines(), media_type="application/x-ndjson")

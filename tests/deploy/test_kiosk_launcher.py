"""deploy/kiosk/checkpoint-kiosk, the box's kiosk start: real Chromium (headless here) on the page,
started again by the launcher when it dies."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from checkpoint.broker import free_port

LAUNCHER = Path(__file__).resolve().parents[2] / "deploy/kiosk/checkpoint-kiosk"


@pytest.fixture
def page_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _browser_of(launcher: int) -> int | None:
    """The launcher's Chromium (its child process), if running."""
    children = Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split()
    return (
        int(children[0])
        if children and Path(f"/proc/{children[0]}/cmdline").read_bytes().find(b"--kiosk") >= 0
        else None
    )


def _wait(what: str, condition: object, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():  # type: ignore[operator]
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout:g} s")


def test_chromium_is_started_again_when_it_dies(tmp_path: Path, page_url: str) -> None:
    log = tmp_path / "chromium.log"
    env = os.environ | {
        "CHECKPOINT_KIOSK_LOG": str(log),
        "CHECKPOINT_KIOSK_FLAGS": f"--headless=new --no-sandbox --disable-gpu --user-data-dir={tmp_path / 'profile'}",
    }
    launcher = subprocess.Popen(["sh", str(LAUNCHER), page_url], env=env, start_new_session=True)
    try:
        first = _wait("Chromium started", lambda: _browser_of(launcher.pid))
        assert isinstance(first, int)
        os.kill(first, signal.SIGKILL)  # a crash
        second = _wait("Chromium started again", lambda: (b := _browser_of(launcher.pid)) != first and b)
        assert second and second != first
        assert "chromium exited with status 137; starting it again" in log.read_text()
    finally:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=10)

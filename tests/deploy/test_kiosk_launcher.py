"""deploy/kiosk/checkpoint-kiosk, the box's kiosk start: real Chromium (headless here) on the page,
started again by the launcher when it dies."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from checkpoint.broker import free_port
from tests.mqtt import wait_until

LAUNCHER = Path(__file__).resolve().parents[2] / "deploy/kiosk/checkpoint-kiosk"


@pytest.fixture
def page_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()  # 0.05 s: a quick shutdown
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


def test_chromium_is_started_again_when_it_dies(tmp_path: Path, page_url: str) -> None:
    log = tmp_path / "chromium.log"
    env = os.environ | {
        "CHECKPOINT_KIOSK_LOG": str(log),
        "CHECKPOINT_KIOSK_FLAGS": f"--headless=new --no-sandbox --disable-gpu --user-data-dir={tmp_path / 'profile'}",
    }
    launcher = subprocess.Popen(["sh", str(LAUNCHER), page_url], env=env, start_new_session=True)
    try:
        first = wait_until(lambda: _browser_of(launcher.pid), timeout=30, what="Chromium to start")
        os.kill(first, signal.SIGKILL)  # a crash
        second = wait_until(lambda: (b := _browser_of(launcher.pid)) != first and b, timeout=30,
                            what="Chromium to start again")
        assert second and second != first
        assert "chromium exited with status 137; starting it again" in log.read_text()
    finally:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=10)

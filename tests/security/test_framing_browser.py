"""Clickjacking, in headless Chromium: a page of another site that frames the case page (with its
Close button) gets nothing shown, while an origin central is told to trust (the demo's wall) may."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from central.store import Store
from checkpoint.broker import free_port
from tests.browser import launch
from tests.central.conftest import PASSWORD, Server, add_users, flagged, rows, settings_for
from tests.central.conftest import cheap_password_hashes as cheap_password_hashes  # shared fixtures
from tests.central.conftest import sqlite_store as sqlite_store

pytestmark = pytest.mark.browser


class Framing(http.server.ThreadingHTTPServer):
    """A page on its own port (its own origin) that shows `target` in a frame."""

    def __init__(self, port: int, target: str) -> None:
        page = f'<!doctype html><title>other site</title><iframe src="{target}" width=900 height=600></iframe>'

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the base class's name
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(page.encode())

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                """Quiet."""

        super().__init__(("127.0.0.1", port), Handler)
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()  # 0.05 s: a quick shutdown

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Page]:
    with sync_playwright() as pw:
        browser = launch(pw)
        yield browser.new_page(viewport={"width": 1000, "height": 700})
        browser.close()


def test_another_site_cannot_frame_the_case_page(sqlite_store: Store, browser_page: Page) -> None:
    add_users(sqlite_store)
    sqlite_store.write_batch(rows(flagged(1, person=23)))
    wall_port = free_port()
    settings = settings_for(None, http={"frame_ancestors": [f"http://127.0.0.1:{wall_port}"]})
    with Server(settings, sqlite_store) as server:
        case_url = f"{server.url}/cases/1"
        attacker, wall = Framing(free_port(), case_url), Framing(wall_port, case_url)
        try:
            page = browser_page
            page.goto(f"{server.url}/login?next=/cases/1")
            page.fill("#username", "operator")
            page.fill("#password", PASSWORD)
            page.click("#login-button")
            expect(page.locator("#do-close")).to_be_visible()  # the case, with its Close button

            page.goto(wall.url)  # the origin central trusts: the case shows in its frame
            expect(page.frame_locator("iframe").locator("#do-close")).to_be_visible(timeout=10_000)

            page.goto(attacker.url)
            page.wait_for_load_state("load")
            (frame,) = page.main_frame.child_frames
            assert not frame.url.startswith(server.url), frame.url  # Chromium refused to show it
            expect(page.frame_locator("iframe").locator("#do-close")).to_have_count(0)
        finally:
            for s in (attacker, wall):
                s.shutdown()
                s.server_close()

"""Headless Chromium for the browser tests: Debian's package, launched as the project runs it under
Playwright, and the office's login as a user goes through it."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, Playwright, expect

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-background-networking"]


def launch(pw: Playwright, *flags: str) -> Browser:
    """Chromium headless, with `flags` beside the project's own (the kiosk's, for one)."""
    return pw.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *flags])


def log_in(page: Page, url: str, user: str, password: str, target: str) -> None:
    """Open `target` (of the server at `url`), log in on the page it shows as `user`, and be back at it."""
    page.goto(f"{url}{target}")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login-button")
    expect(page).to_have_url(f"{url}{target}")

"""The headers every answer of central carries, so that a browser keeps the dashboard to itself.

- Content-Security-Policy: scripts, styles, images and connections from central only (no inline
  script, no CDN: an office may have no internet), forms post only to central, and no page may be
  framed by another site (`frame-ancestors`), so no one can lay the case page with its buttons
  under a page of their own (clickjacking). `http.frame_ancestors` names the origins that may
  frame it (the demo's wall); X-Frame-Options DENY says the same to older browsers when none may.
- X-Content-Type-Options: nosniff: an export or upload is never run as a script or page.
- Referrer-Policy: no address of ours (case numbers) leaks to another site.
- Strict-Transport-Security on answers that went over HTTPS.

A pure ASGI middleware: the live feed streams, and must not be buffered.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def policy(frame_ancestors: Sequence[str]) -> list[tuple[str, str]]:
    """The headers for every answer, given the origins that may frame central's pages."""
    ancestors = " ".join(frame_ancestors) or "'none'"
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        f"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
    )
    headers = [
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if not frame_ancestors:
        headers.append(("X-Frame-Options", "DENY"))
    return headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp, frame_ancestors: Sequence[str] = ()) -> None:
        self.app = app
        self.headers = policy(frame_ancestors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    headers[name] = value
                if https:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        await self.app(scope, receive, send_with_headers)

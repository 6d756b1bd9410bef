"""Who is asking, may they, and did the request come from our own page.

A request is authenticated by the session cookie (the pages) or by `Authorization: Bearer
<token>` (scripts, from POST /api/session). A state-changing request authenticated by the cookie
must carry the session's CSRF token, in the `X-CSRF-Token` header or a `csrf_token` form field:
a cookie travels with a forged cross-site form, the token does not. Bearer requests need no CSRF
token, since no browser adds that header by itself. The login form, before any session exists,
is protected by a double-submit cookie.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from central.auth import Accounts, Role, Session
from contract import signing

SESSION_COOKIE = "cp_session"
LOGIN_CSRF_COOKIE = "cp_login_csrf"
LANG_COOKIE = "cp_lang"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NeedLogin(Exception):
    """No valid session: the pages redirect to the login form, the API answers 401."""


class Forbidden(Exception):
    """Logged in, but the role or the CSRF token does not allow this request."""


def lang_of(request: Request) -> str:
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "zh"


def secure_cookies(request: Request) -> bool:
    """Whether cookies set in answer to this request go over HTTPS only: always when the settings
    say so, and whenever the request itself came over HTTPS (directly, or through a reverse proxy
    that uvicorn trusts, by its X-Forwarded-Proto)."""
    return bool(request.app.state.services.settings.http.secure_cookies) or request.url.scheme == "https"


def retry_after(until: datetime) -> int:
    """Whole seconds from now until `until`, at least 1: the Retry-After header."""
    return max(1, math.ceil((until - datetime.now(UTC)).total_seconds()))


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


async def current_session(request: Request) -> Session | None:
    """The request's session, looked up once per request."""
    if not hasattr(request.state, "session"):
        accounts: Accounts = request.app.state.accounts
        bearer = _bearer(request)
        token = bearer or request.cookies.get(SESSION_COOKIE)
        session = await run_in_threadpool(accounts.session, token) if token else None
        request.state.session = session
        request.state.by_cookie = session is not None and bearer is None
    return request.state.session  # type: ignore[no-any-return]


async def csrf_ok(request: Request, expected: str) -> bool:
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get("csrf_token")  # type: ignore[assignment]
    return isinstance(sent, str) and hmac.compare_digest(sent, expected)


def require(role: Role) -> Callable[[Request], Awaitable[Session]]:
    """A dependency: the session of a user with at least `role`, CSRF-checked when it must be."""

    async def dependency(request: Request) -> Session:
        session = await current_session(request)
        if session is None:
            raise NeedLogin()
        needs_csrf = request.method not in SAFE_METHODS and request.state.by_cookie
        if needs_csrf and not await csrf_ok(request, session.csrf):
            raise Forbidden("missing or wrong CSRF token")
        if not session.user.role.allows(role):
            raise Forbidden(f"needs the {role.value} role")
        return session

    return dependency


BOX_HEADERS = ("x-checkpoint-device", "x-checkpoint-time", "x-checkpoint-signature")
BOX_WINDOW_S = 24 * 3600  # a box's clock may be off by hours before it syncs; a replay only re-reads a file


class NotABox(Exception):
    """A request for a box's resource without a registered, unrevoked box's valid signature: 401."""


async def box(request: Request) -> str:
    """A dependency: the box that signed this request (contract.signing.request_signature)."""
    device, at, sig = (request.headers.get(h, "") for h in BOX_HEADERS)
    if not (device and at.isdigit() and len(at) < 12 and sig):
        raise NotABox("a box's request carries X-Checkpoint-Device, -Time and -Signature")
    if abs(int(at) - datetime.now(UTC).timestamp()) > BOX_WINDOW_S:
        raise NotABox("the request's time is more than a day away from central's")
    keys = await run_in_threadpool(request.app.state.services.store.device_keys)
    known = keys.get(device)
    if known is None or known.revoked:
        raise NotABox("no such box, or revoked")
    expected = signing.request_signature(known.key, device, request.method, request.url.path, int(at))
    if not hmac.compare_digest(sig, expected):
        raise NotABox("the signature does not match")
    return device


viewer = require(Role.VIEWER)
operator = require(Role.OPERATOR)
admin = require(Role.ADMIN)


# the session a route needs, as a FastAPI dependency: `session: Viewer` in its signature
Viewer = Annotated[Session, Depends(viewer)]
Operator = Annotated[Session, Depends(operator)]
Admin = Annotated[Session, Depends(admin)]

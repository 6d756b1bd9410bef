"""The second source: ask the issuer online about a URL or token code, briefly, and remember the answer.

Real platforms encode a URL or a token that only the issuer can resolve. For each configured issuer
a regular expression recognises its payloads and captures the token (named group `token`, else the
whole match); the lookup URL is a template with `{token}`. The issuer answers JSON
`{"colour": "green"|"yellow"|"red"|"grey", "issuer"?: str, "detail"?: str, "expires_at"?: ISO time}`;
404/410 means it does not know the code (reported as forged). An adapter for a platform that
answers otherwise belongs in a subclass overriding `interpret`.

Stated fallback: a lookup waits at most `timeout_s` (default 1.5 s). When the issuer cannot be
reached, the verifier steps aside with a note and the chain falls back to the screen colour, marked
as such; for `offline_hold_s` after a failure (default 15 s) it does not try that issuer again, so
the travellers behind do not each wait the timeout. Answers are cached for `cache_ttl_s` (60 s,
at most 256 codes): a code shown twice within a minute is looked up once.

Calls block (up to the timeout): call `check` from a worker thread, never on an event loop.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.healthcode.status import CodeStatus, Undecided, Verifier
from contract.messages import CodeColour, ColourSource

log = logging.getLogger(__name__)


class OnlineIssuer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    pattern: str  # e.g. r"^https://hc\.example\.gov\.cn/c/(?P<token>[A-Za-z0-9_-]{8,128})$"
    lookup_url: str  # e.g. "https://hc.example.gov.cn/api/status/{token}"


class OnlineSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    issuers: list[OnlineIssuer] = []
    timeout_s: float = Field(default=1.5, gt=0, le=10)
    cache_ttl_s: float = Field(default=60.0, ge=0)
    cache_size: int = Field(default=256, ge=1)
    offline_hold_s: float = Field(default=15.0, ge=0)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    colour: CodeColour
    issuer: str | None = None
    detail: str = ""
    expires_at: datetime | None = None


class OnlineVerifier(Verifier):
    """Looks URL/token codes up at their issuer. Thread-safe; `close()` releases the HTTP client."""

    def __init__(self, settings: OnlineSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._rules = [(issuer, re.compile(issuer.pattern)) for issuer in settings.issuers]
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[float, CodeStatus]] = OrderedDict()
        self._offline_until: dict[str, float] = {}
        self._client: httpx.Client | None = None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def check(self, text: str, screen_colour: CodeColour, now: datetime) -> CodeStatus | Undecided:
        match = self._match(text)
        if match is None:
            return Undecided()
        issuer, token = match
        cached = self._cached(text)
        if cached is not None:
            return cached
        if self._clock() < self._offline_until.get(issuer.name, 0.0):
            return Undecided(note=f"issuer {issuer.name} unreachable recently; not retried yet")
        try:
            response = self._http().get(issuer.lookup_url.format(token=quote(token, safe="")))
        except httpx.HTTPError as exc:
            with self._lock:
                self._offline_until[issuer.name] = self._clock() + self._settings.offline_hold_s
            log.warning("health-code lookup failed", extra={"issuer": issuer.name, "error": repr(exc)})
            return Undecided(note=f"issuer {issuer.name} unreachable ({type(exc).__name__})")
        status = self.interpret(issuer, response)
        if isinstance(status, CodeStatus):
            self._remember(text, status)
        return status

    def interpret(self, issuer: OnlineIssuer, response: httpx.Response) -> CodeStatus | Undecided:
        """Turn the issuer's answer into a status; override for a platform with another format."""
        if response.status_code in (404, 410):
            return CodeStatus(
                colour=CodeColour.UNKNOWN,
                source=ColourSource.ONLINE_LOOKUP,
                issuer=issuer.name,
                forged=True,
                detail="the issuer does not know this code",
            )
        if response.status_code != 200:
            return Undecided(note=f"issuer {issuer.name} answered HTTP {response.status_code}")
        try:
            answer = _Answer.model_validate_json(response.content)
        except ValidationError as exc:
            return Undecided(note=f"issuer {issuer.name} answered something else: {exc.errors()[0]['msg']}")
        return CodeStatus(
            colour=answer.colour,
            source=ColourSource.ONLINE_LOOKUP,
            issuer=answer.issuer or issuer.name,
            detail=answer.detail,
            expires_at=answer.expires_at,
        )

    def _match(self, text: str) -> tuple[OnlineIssuer, str] | None:
        for issuer, rule in self._rules:
            found = rule.search(text)
            if found:
                groups: dict[str, Any] = found.groupdict()
                return issuer, groups.get("token") or found.group(0)
        return None

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self._settings.timeout_s, follow_redirects=False)
            return self._client

    def _cached(self, text: str) -> CodeStatus | None:
        with self._lock:
            entry = self._cache.get(text)
            if entry is None:
                return None
            stored_at, status = entry
            if self._clock() - stored_at > self._settings.cache_ttl_s:
                del self._cache[text]
                return None
            self._cache.move_to_end(text)
            return status

    def _remember(self, text: str, status: CodeStatus) -> None:
        with self._lock:
            self._cache[text] = (self._clock(), status)
            self._cache.move_to_end(text)
            while len(self._cache) > self._settings.cache_size:
                self._cache.popitem(last=False)

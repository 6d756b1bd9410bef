"""The three pushes the office makes, shared by the API and the lists page.

Each checks its input, builds the contract message and hands it to the Pusher. Bad input raises
`Refused` with a message for the user; nothing is published then. A push reaches every box of the
deployment, so only an admin of the whole deployment (the root node) may make one: an admin of a
county would otherwise change the boxes of every other county (`Forbidden`).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from central import policy_check, watchlist
from central.auth import Session
from central.push import version_stamp
from central.sql import now
from central.web.security import Forbidden
from central.web.services import Services
from contract.messages import PolicyPush, RiskAreasPush, WatchlistPush

_REGION = re.compile(r"^\d{6}$")


class Refused(ValueError):
    """The upload cannot be pushed; the message says why."""


def _whole(session: Session) -> None:
    if not session.scope.whole:
        raise Forbidden("a push reaches every box of the deployment: only an admin of the whole deployment")


def push_watchlist(svc: Services, data: bytes, session: Session, address: str) -> tuple[str, watchlist.Upload]:
    _whole(session)
    key = svc.settings.pseudonym_key_bytes()
    if key is None:
        raise Refused("central has no pseudonym key (settings: pseudonym_key or pseudonym_key_file)")
    upload = watchlist.parse(data, key)
    at = now()
    message = WatchlistPush(version=version_stamp("watchlist", at), issued_at=at, pseudonyms=upload.pseudonyms)
    svc.pusher.push(message, session.user, address, len(upload.pseudonyms), f"{len(upload.rejected)} lines rejected")
    return message.version, upload


def push_risk_areas(svc: Services, regions: list[str], session: Session, address: str) -> str:
    _whole(session)
    codes = sorted({r.strip() for r in regions if r.strip()})
    bad = [c for c in codes if not _REGION.match(c)]
    if bad:
        raise Refused(f"not 6-digit region codes (GB/T 2260): {', '.join(bad[:10])}")
    at = now()
    message = RiskAreasPush(version=version_stamp("risk-areas", at), issued_at=at, regions=codes)
    svc.pusher.push(message, session.user, address, len(codes))
    return message.version


def parse_policy(text: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Refused(f"not YAML or JSON: {exc}") from None
    if not isinstance(document, dict):
        raise Refused("a policy is a mapping of settings")
    return document


def push_policy(svc: Services, document: dict[str, Any], session: Session, address: str) -> str:
    _whole(session)
    problems = policy_check.problems(document)
    if problems:
        raise Refused("; ".join(problems[:10]))
    message = PolicyPush(version=str(document["version"]), issued_at=now(), document=document)
    svc.pusher.push(message, session.user, address, 1)
    return message.version

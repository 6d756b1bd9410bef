"""The pushes the office makes (watch-list, risk areas, policy, pre-registrations), shared by the
API and the pages.

Each checks its input, builds the contract message and hands it to the Pusher. Bad input raises
`Refused` with a message for the user; nothing is published then. The watch-list, the risk areas
and the policy reach every box of the deployment, so only an admin of the whole deployment (the
root node) may push them: an admin of a county would otherwise change every county's boxes
(`Forbidden`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy import Connection

from central import policy_check, registrations, sheets, watchlist
from central.auth import Session
from central.push import version_stamp
from central.sql import now
from central.web.security import Forbidden
from central.web.services import Services
from contract.messages import PolicyPush, RegistrationsPush, RiskAreasPush, WatchlistPush

_REGION = re.compile(r"^\d{6}$")


class Refused(ValueError):
    """The upload cannot be pushed; the message says why."""


def _key(svc: Services) -> bytes:
    key = svc.settings.pseudonym_key_bytes()
    if key is None:
        raise Refused("central has no pseudonym key (settings: pseudonym_key or pseudonym_key_file)")
    return key


def _whole(session: Session) -> None:
    if not session.scope.whole:
        raise Forbidden("this push reaches every box of the deployment: only an admin of the whole deployment")


def push_watchlist(svc: Services, data: bytes, session: Session, address: str) -> tuple[str, watchlist.Upload]:
    _whole(session)
    upload = watchlist.parse(data, _key(svc))
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


@dataclass(frozen=True)
class Imported:
    version: str
    added: int
    replaced: int
    pushed: int  # registrations that count, now on every box


def check_registrations(
    svc: Services, lines: list[tuple[int, Mapping[str, str]]], session: Session,
    progress: Callable[[int, int], None] = lambda *_: None,
) -> list[registrations.Row]:
    """Every line checked, destinations within the user's area; BadLines (nothing imported) when any is wrong."""
    with svc.store.engine.connect() as conn:
        places = registrations.places(conn, session.scope)
    rules = registrations.Rules(key=_key(svc), today=svc.today(), window=svc.settings.registrations, places=places)
    sheet = sheets.Sheet([(n, dict(cells)) for n, cells in lines])
    checked = sheets.check(sheet, lambda cells: registrations.parse_line(cells, rules), registrations.row_key,
                           progress)
    if checked.errors:
        raise sheets.BadLines(checked.errors)
    return checked.rows


def read_registrations(data: bytes, progress: Callable[[int, int], None] = lambda *_: None
                       ) -> list[tuple[int, Mapping[str, str]]]:
    try:
        return list(sheets.read(data, registrations.COLUMNS, progress).lines)
    except sheets.SheetError as exc:
        raise Refused(str(exc)) from None


def push_registrations(svc: Services, rows: list[registrations.Row], session: Session, address: str) -> Imported:
    """Store the checked rows and push every registration that counts, in one go: if the broker does not
    take the push, nothing is stored."""
    if not rows:
        raise Refused("文件中没有报备人员 / no registrations in the file")
    at = now()
    version = version_stamp("registrations", at)
    counts: list[int] = []

    def build(conn: Connection) -> tuple[RegistrationsPush, int]:
        counts.extend(registrations.save(conn, rows, version, session.user.username, at))
        message, people = registrations.push_message(conn, version, at, svc.today(), svc.settings.registrations)
        counts.append(people)
        return message, people

    svc.pusher.push_built(build, session.user, address, f"{len(rows)} imported")
    return Imported(version, *counts)

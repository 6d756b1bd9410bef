"""The login throttle: failed logins per account and per address, and the wait they earn.

After `free` failures in a row, each further one makes the account (or the address) wait, twice as
long each time up to a cap; a quiet hour forgets them, and a good login clears the account's (not
the address's: one good account must not launder an address that tries many). While the wait
lasts no password is even checked, the right one neither. The counts live in the database, so every
replica of central sees every other's, and a restart forgets nothing.

`wait_after` is the rule (pure, table-tested); `Throttle` keeps the counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, and_, case, delete, literal, or_, select, update

from central.schema import login_failures
from central.sql import aware, insert_for, larger


@dataclass(frozen=True)
class Rule:
    free: int  # failures in a row before the first wait
    first_wait: timedelta
    max_wait: timedelta
    forget_after: timedelta = timedelta(hours=1)  # a quiet spell this long clears the count


ACCOUNT = Rule(free=5, first_wait=timedelta(seconds=30), max_wait=timedelta(minutes=15))
ADDRESS = Rule(free=20, first_wait=timedelta(seconds=30), max_wait=timedelta(minutes=15))  # an office shares one
RULES = {"user": ACCOUNT, "address": ADDRESS}


def wait_after(rule: Rule, failures: int) -> timedelta:
    """How long to wait after `failures` failed logins in a row."""
    if failures < rule.free:
        return timedelta(0)
    doublings = min(failures - rule.free, 20)
    return min(rule.first_wait * 2**doublings, rule.max_wait)


class Throttled(Exception):
    """Too many failed logins for this account or from this address; try again at `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many failed logins; try again after {until.isoformat(timespec='seconds')}")
        self.until = until


def _keys(username: str, address: str) -> list[tuple[str, str]]:
    keys = [("user", username[:64])]
    if address:
        keys.append(("address", address[:64]))
    return keys


def _mine(keys: list[tuple[str, str]]) -> ColumnElement[bool]:
    return or_(*(and_(login_failures.c.kind == k, login_failures.c.subject == s) for k, s in keys))


def check(conn: Connection, username: str, address: str, at: datetime) -> None:
    """Raise Throttled if the account or the address must still wait."""
    waits = conn.scalars(select(login_failures.c.locked_until).where(_mine(_keys(username, address))))
    until = max((aware(w) for w in waits if w is not None), default=None)
    if until is not None and until > at:
        raise Throttled(until)


def failed(conn: Connection, username: str, address: str, at: datetime) -> datetime | None:
    """Count a failed login; when it earns a wait, the time it ends (else None)."""
    conn.execute(delete(login_failures).where(  # what has been quiet long enough is forgotten
        login_failures.c.last_failure_at < at - max(r.forget_after for r in RULES.values()),
        or_(login_failures.c.locked_until.is_(None), login_failures.c.locked_until < at)))
    insert = insert_for(conn)
    until: datetime | None = None
    for kind, subject in sorted(_keys(username, address)):  # one order: two replicas never wait in a circle
        rule = RULES[kind]
        stmt = insert(login_failures).values(kind=kind, subject=subject, failures=1, last_failure_at=at)
        quiet = login_failures.c.last_failure_at < at - rule.forget_after
        stmt = stmt.on_conflict_do_update(
            index_elements=["kind", "subject"],
            set_={"failures": case((quiet, 1), else_=login_failures.c.failures + 1), "last_failure_at": at},
        ).returning(login_failures.c.failures)
        failures = conn.execute(stmt).scalar_one()
        wait = wait_after(rule, failures)
        if wait:
            ends = at + wait
            row = and_(login_failures.c.kind == kind, login_failures.c.subject == subject)
            later = larger(login_failures.c.locked_until, literal(ends, login_failures.c.locked_until.type))
            conn.execute(update(login_failures).where(row).values(locked_until=later))
            until = max(until, ends) if until else ends
    return until


def succeeded(conn: Connection, username: str) -> None:
    """A good login clears the account's count (the address's stays)."""
    conn.execute(delete(login_failures).where(login_failures.c.kind == "user",
                                              login_failures.c.subject == username[:64]))

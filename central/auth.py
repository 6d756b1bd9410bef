"""The office's users, their roles, and their login sessions.

Passwords are stored as argon2id hashes (argon2-cffi). A login creates a session: a random token
in an HttpOnly cookie (or a bearer header for scripts), of which the database keeps only the
SHA-256, and a CSRF token that every form and every state-changing request from the pages must
echo. Sessions live in the database so that whichever replica serves a request knows the user.

Roles are ranked: a viewer reads; an operator also works cases and may unmask a person (audited);
an admin also pushes watch-lists and policies and manages users. Each user stands at one node of
the region tree and holds their role there: their session carries the node's Scope, which limits
what they read and act on to its subtree (central.regions).

A login goes through the throttle first (central.throttle: per account and per address, in the
database); a failed one is counted and written to the audit log. Each argon2id hash takes 64 MiB
and a good part of a core, so a process hashes at most `HASHING.size` passwords at once (the
collector shares the process); logins beyond that wait their turn, briefly, or are told to retry.
A new password ends the user's other sessions.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, select

from central import audit, throttle
from central.regions import ROOT, RegionError, Scope, scope_of
from central.schema import sessions, users
from central.sql import aware, now

_HASHER = PasswordHasher()
# verified against when the user does not exist, so that a wrong name costs as long as a wrong password
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(8))


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class User(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    username: str
    role: Role
    region: str = ROOT


class Session(BaseModel):
    model_config = ConfigDict(frozen=True)

    user: User
    csrf: str
    scope: Scope


class AccountError(ValueError):
    """A user-management request that cannot be done (the message says why)."""


class Busy(Exception):
    """Every password-hashing slot of this process stayed taken: try again in a few seconds."""


class HashingSlots:
    """At most `size` password hashes at once in this process, and at most `queue` logins waiting
    for one, each for `wait_s` at most: memory stays bounded whatever arrives (the bound is per
    process because the memory is)."""

    def __init__(self, size: int = 2, queue: int = 16, wait_s: float = 10.0) -> None:
        self.size, self.queue, self.wait_s = size, queue, wait_s
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self.hashing = 0  # how many hash now
        self.waiting = 0  # how many wait for a slot

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._lock:
            if self.waiting >= self.queue:
                raise Busy()
            self.waiting += 1
        try:
            got = self._slots.acquire(timeout=self.wait_s)
        finally:
            with self._lock:
                self.waiting -= 1
        if not got:
            raise Busy()
        with self._lock:
            self.hashing += 1
        try:
            yield
        finally:
            with self._lock:
                self.hashing -= 1
            self._slots.release()


HASHING = HashingSlots()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, engine: Engine, session_hours: float = 12) -> None:
        self.engine = engine
        self.lifetime = timedelta(hours=session_hours)

    # users

    def add(self, username: str, password: str, role: Role, region: str = ROOT) -> User:
        """A new user at the node `region` (the root: the whole deployment)."""
        _check_password(password)
        if not username or len(username) > 64 or not username.isprintable():
            raise AccountError("a user name has 1 to 64 printable characters")
        with self.engine.begin() as conn:
            _node(conn, region)
            if conn.scalar(select(users.c.id).where(users.c.username == username)) is not None:
                raise AccountError(f"user {username!r} exists already")
            row = dict(username=username, role=role.value, password_hash=_hash(password), disabled=False,
                       created_at=now(), region=region)
            user_id = conn.execute(users.insert().values(**row).returning(users.c.id)).scalar_one()
        return User(id=user_id, username=username, role=role, region=region)

    def set_password(self, username: str, password: str, keep_token: str | None = None) -> None:
        """A new password; every session of the user ends but `keep_token`'s (the one that changed it)."""
        _check_password(password)
        user_id = self._update(username, password_hash=_hash(password))
        others = sessions.c.user_id == user_id
        if keep_token is not None:
            others &= sessions.c.token_hash != token_hash(keep_token)
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(others))

    def set_role(self, username: str, role: Role) -> None:
        self._update(username, role=role.value)

    def set_region(self, username: str, region: str) -> None:
        """Move a user to another node; their open sessions end (they carried the old scope)."""
        with self.engine.begin() as conn:
            _node(conn, region)
        user_id = self._update(username, region=region)
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.user_id == user_id))

    def disable(self, username: str) -> None:
        """The user can no longer log in, and their open sessions end."""
        user_id = self._update(username, disabled=True)
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.user_id == user_id))

    def _update(self, username: str, **values: object) -> int:
        with self.engine.begin() as conn:
            user_id = conn.scalar(select(users.c.id).where(users.c.username == username))
            if user_id is None:
                raise AccountError(f"no user {username!r}")
            conn.execute(users.update().where(users.c.id == user_id).values(**values))
        return int(user_id)

    def list(self, scope: Scope) -> list[dict[str, object]]:
        """The users who stand in `scope`."""
        query = (select(users.c.username, users.c.role, users.c.region, users.c.disabled, users.c.created_at)
                 .where(scope.region_in(users.c.region)).order_by(users.c.username))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # sessions

    def login(self, username: str, password: str, address: str = "") -> tuple[str, Session] | None:
        """A new session token and its session, or None for a wrong name or password (counted and
        audited). Raises throttle.Throttled while the account or the address must wait, and Busy
        when no hashing slot came free."""
        with self.engine.connect() as conn:
            throttle.check(conn, username, address, now())
            row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
        if not self._password_ok(row["password_hash"] if row else _DUMMY_HASH, password) or row is None \
                or row["disabled"]:
            self._failed(username, address)
            return None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        at = now()
        with self.engine.begin() as conn:
            scope = scope_of(conn, row["region"])
            throttle.succeeded(conn, username)
            if _HASHER.check_needs_rehash(row["password_hash"]):
                conn.execute(users.update().where(users.c.id == row["id"]).values(password_hash=_hash(password)))
            conn.execute(sessions.delete().where(sessions.c.expires_at < at))
            conn.execute(sessions.insert().values(token_hash=token_hash(token), user_id=row["id"], csrf=csrf,
                                                  created_at=at, expires_at=at + self.lifetime))
        user = User(id=row["id"], username=username, role=Role(row["role"]), region=row["region"])
        return token, Session(user=user, csrf=csrf, scope=scope)

    def check_password(self, username: str, password: str, address: str = "") -> bool:
        """Whether this is the user's password (a wrong one counts like a failed login)."""
        with self.engine.connect() as conn:
            throttle.check(conn, username, address, now())
            stored = conn.scalar(select(users.c.password_hash).where(users.c.username == username))
        if self._password_ok(stored or _DUMMY_HASH, password) and stored is not None:
            return True
        self._failed(username, address)
        return False

    @staticmethod
    def _password_ok(stored: str, password: str) -> bool:
        with HASHING.slot():
            try:
                return bool(_HASHER.verify(stored, password))
            except (VerificationError, InvalidHashError):
                return False

    def _failed(self, username: str, address: str) -> None:
        at = now()
        with self.engine.begin() as conn:
            until = throttle.failed(conn, username, address, at)
            audit.record(conn, username[:64], "login_failed", username, "wrong user name or password", address)
            if until is not None:
                audit.record(conn, username[:64], "login_locked", username, f"until {_iso(until)}", address)

    def session(self, token: str) -> Session | None:
        query = (
            select(sessions.c.csrf, sessions.c.expires_at, users.c.id, users.c.username, users.c.role, users.c.disabled,
                   users.c.region)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.token_hash == token_hash(token))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
            if row is None or row["disabled"] or aware(row["expires_at"]) < now():
                return None
            try:
                scope = scope_of(conn, row["region"])
            except RegionError:  # never: nodes are not removed; but no node, no scope, no session
                return None
        user = User(id=row["id"], username=row["username"], role=Role(row["role"]), region=row["region"])
        return Session(user=user, csrf=row["csrf"], scope=scope)

    def logout(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.token_hash == token_hash(token)))


def _node(conn: Connection, region: str) -> Scope:
    try:
        return scope_of(conn, region)
    except RegionError as exc:
        raise AccountError(str(exc)) from None


def _hash(password: str) -> str:
    with HASHING.slot():
        return _HASHER.hash(password)


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _check_password(password: str) -> None:
    if len(password) < 10:
        raise AccountError("a password has at least 10 characters")

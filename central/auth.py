"""The office's users, their roles, and their login sessions.

Passwords are stored as argon2id hashes (argon2-cffi). A login creates a session: a random token
in an HttpOnly cookie (or a bearer header for scripts), of which the database keeps only the
SHA-256, and a CSRF token that every form and every state-changing request from the pages must
echo. Sessions live in the database so that whichever replica serves a request knows the user.

Roles are ranked: a viewer reads; an operator also works cases and may unmask a person (audited);
an admin also pushes watch-lists and policies and manages users.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, select

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


class Session(BaseModel):
    model_config = ConfigDict(frozen=True)

    user: User
    csrf: str


class AccountError(ValueError):
    """A user-management request that cannot be done (the message says why)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, engine: Engine, session_hours: float = 12) -> None:
        self.engine = engine
        self.lifetime = timedelta(hours=session_hours)

    # users

    def add(self, username: str, password: str, role: Role) -> User:
        _check_password(password)
        if not username or len(username) > 64 or not username.isprintable():
            raise AccountError("a user name has 1 to 64 printable characters")
        with self.engine.begin() as conn:
            if conn.scalar(select(users.c.id).where(users.c.username == username)) is not None:
                raise AccountError(f"user {username!r} exists already")
            row = dict(username=username, role=role.value, password_hash=_HASHER.hash(password), disabled=False,
                       created_at=now())
            user_id = conn.execute(users.insert().values(**row).returning(users.c.id)).scalar_one()
        return User(id=user_id, username=username, role=role)

    def set_password(self, username: str, password: str) -> None:
        _check_password(password)
        self._update(username, password_hash=_HASHER.hash(password))

    def set_role(self, username: str, role: Role) -> None:
        self._update(username, role=role.value)

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

    def list(self) -> list[dict[str, object]]:
        query = select(users.c.username, users.c.role, users.c.disabled, users.c.created_at).order_by(users.c.username)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # sessions

    def login(self, username: str, password: str) -> tuple[str, Session] | None:
        """A new session token and its session, or None for a wrong name or password."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
        try:
            _HASHER.verify(row["password_hash"] if row else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row["disabled"]:
            return None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        at = now()
        with self.engine.begin() as conn:
            if _HASHER.check_needs_rehash(row["password_hash"]):
                conn.execute(users.update().where(users.c.id == row["id"]).values(password_hash=_HASHER.hash(password)))
            conn.execute(sessions.delete().where(sessions.c.expires_at < at))
            conn.execute(sessions.insert().values(token_hash=token_hash(token), user_id=row["id"], csrf=csrf,
                                                  created_at=at, expires_at=at + self.lifetime))
        return token, Session(user=User(id=row["id"], username=username, role=Role(row["role"])), csrf=csrf)

    def session(self, token: str) -> Session | None:
        query = (
            select(sessions.c.csrf, sessions.c.expires_at, users.c.id, users.c.username, users.c.role, users.c.disabled)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.token_hash == token_hash(token))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None or row["disabled"] or aware(row["expires_at"]) < now():
            return None
        return Session(user=User(id=row["id"], username=row["username"], role=Role(row["role"])), csrf=row["csrf"])

    def logout(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.token_hash == token_hash(token)))


def _check_password(password: str) -> None:
    if len(password) < 10:
        raise AccountError("a password has at least 10 characters")

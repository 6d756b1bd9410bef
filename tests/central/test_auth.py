"""Users, roles, hashed passwords and sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from central.auth import AccountError, Accounts, Role
from central.schema import sessions, users
from central.sql import now
from central.store import Store

PASSWORD = "correct-horse-battery"


def test_passwords_are_stored_as_argon2_hashes_and_checked(sqlite_store: Store) -> None:
    accounts = Accounts(sqlite_store.engine)
    accounts.add("wang", PASSWORD, Role.OPERATOR)
    with sqlite_store.engine.connect() as conn:
        stored = conn.scalar(select(users.c.password_hash))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert accounts.login("wang", "wrong-password-1") is None
    assert accounts.login("nobody", PASSWORD) is None
    found = accounts.login("wang", PASSWORD)
    assert found is not None
    token, session = found
    assert session.user.role is Role.OPERATOR
    with sqlite_store.engine.connect() as conn:
        assert conn.scalar(select(sessions.c.token_hash)) != token  # only its hash is kept
    assert accounts.session(token) == session


def test_roles_are_ranked() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR) and not Role.OPERATOR.allows(Role.ADMIN)


def test_sessions_end_on_logout_expiry_and_disable(sqlite_store: Store) -> None:
    accounts = Accounts(sqlite_store.engine)
    accounts.add("li", PASSWORD, Role.VIEWER)
    tokens = [accounts.login("li", PASSWORD)[0] for _ in range(3)]  # type: ignore[index]
    accounts.logout(tokens[0])
    assert accounts.session(tokens[0]) is None
    with sqlite_store.engine.begin() as conn:
        conn.execute(update(sessions).where(sessions.c.token_hash != "").values(expires_at=now() - timedelta(1)))
    assert accounts.session(tokens[1]) is None
    token = accounts.login("li", PASSWORD)[0]  # type: ignore[index]
    accounts.disable("li")
    assert accounts.session(token) is None and accounts.login("li", PASSWORD) is None


@pytest.mark.parametrize(("name", "password", "why"), [("zhao", "short", "10 characters"), ("", PASSWORD, "1 to 64")])
def test_bad_accounts_are_refused(sqlite_store: Store, name: str, password: str, why: str) -> None:
    with pytest.raises(AccountError, match=why):
        Accounts(sqlite_store.engine).add(name, password, Role.VIEWER)


def test_a_user_name_is_taken_once(sqlite_store: Store) -> None:
    accounts = Accounts(sqlite_store.engine)
    accounts.add("sun", PASSWORD, Role.VIEWER)
    with pytest.raises(AccountError, match="exists"):
        accounts.add("sun", PASSWORD, Role.ADMIN)

"""Logins: throttled per account and per address (the counts in the database, so two replicas see
each other's), failures audited, a clear 429 with when to retry (Chinese first), password hashing
bounded per process, and a new password ending the user's other sessions. SQLite and PostgreSQL,
real HTTP."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import update

from central import audit, auth
from central.auth import Accounts, HashingSlots, Role
from central.regions import WHOLE
from central.schema import login_failures
from central.sql import now
from central.store import Store
from central.throttle import ACCOUNT, ADDRESS, Rule, Throttled, wait_after
from tests.central.conftest import PASSWORD, Server
from tests.mqtt import wait_until

S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("rule", "failures", "wait"),
    [
        (ACCOUNT, 0, 0 * S), (ACCOUNT, 4, 0 * S), (ACCOUNT, 5, 30 * S), (ACCOUNT, 6, 60 * S), (ACCOUNT, 7, 120 * S),
        (ACCOUNT, 9, 480 * S), (ACCOUNT, 10, 900 * S), (ACCOUNT, 50, 900 * S), (ACCOUNT, 10_000, 900 * S),
        (ADDRESS, 19, 0 * S), (ADDRESS, 20, 30 * S), (ADDRESS, 21, 60 * S),
        (Rule(free=1, first_wait=S, max_wait=3 * S), 3, 3 * S),
    ],
)
def test_the_wait_doubles_after_the_free_failures_up_to_its_cap(rule: Rule, failures: int, wait: timedelta) -> None:
    assert wait_after(rule, failures) == wait


def _expire_waits(store: Store) -> None:
    """As if the wait had passed."""
    with store.engine.begin() as conn:
        conn.execute(update(login_failures).values(locked_until=now() - S))


def test_wrong_passwords_lock_the_account_on_every_replica(store: Store) -> None:
    replica_b = Store(store.url)
    try:
        a, b = Accounts(store.engine), Accounts(replica_b.engine)
        a.add("wang", PASSWORD, Role.OPERATOR)
        for n in range(ACCOUNT.free):
            assert (a if n % 2 else b).login("wang", f"wrong-password-{n}", "10.0.0.7") is None
        throttled = 0
        for replica in [a, b] * 25:  # 50 more wrong ones, then the right one: not at once
            try:
                replica.login("wang", "wrong-password-x", "10.0.0.7")
            except Throttled:
                throttled += 1
        assert throttled == 50
        for replica, address in ((a, "10.0.0.7"), (b, "10.0.0.8")):  # per account, from anywhere
            with pytest.raises(Throttled) as refused:
                replica.login("wang", PASSWORD, address)
            assert now() < refused.value.until <= now() + ACCOUNT.first_wait
        entries = audit.recent(store.engine, WHOLE)
        assert [e["action"] for e in entries].count("login_failed") == ACCOUNT.free
        assert any(e["action"] == "login_locked" and e["address"] == "10.0.0.7" for e in entries)
        assert all(e["target"] == "wang" for e in entries if e["action"].startswith("login_"))
        _expire_waits(store)
        assert b.login("wang", PASSWORD, "10.0.0.7") is not None  # the wait is over
        assert a.login("wang", "wrong-password-y", "10.0.0.7") is None  # the count started again
        assert a.login("wang", PASSWORD, "10.0.0.7") is not None
    finally:
        replica_b.dispose()


def test_an_address_trying_many_accounts_waits(store: Store) -> None:
    accounts = Accounts(store.engine)
    accounts.add("li", PASSWORD, Role.VIEWER)
    for n in range(ADDRESS.free):
        assert accounts.login(f"guess-{n}", "wrong-password", "192.0.2.9") is None
    with pytest.raises(Throttled):
        accounts.login("li", PASSWORD, "192.0.2.9")
    assert accounts.login("li", PASSWORD, "192.0.2.10") is not None  # li from elsewhere is not held up
    with pytest.raises(Throttled):
        accounts.login("li", PASSWORD, "192.0.2.9")  # and one good account does not clear the address


def test_a_throttled_login_is_a_429_that_says_when_in_chinese_first(server: Server) -> None:
    client = server.client()
    for _ in range(ACCOUNT.free):
        assert client.post("/api/session", json={"username": "viewer", "password": "wrong-one!"}).status_code == 401
    refused = client.post("/api/session", json={"username": "viewer", "password": PASSWORD})
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 30
    detail = refused.json()["detail"]
    assert detail.startswith("登录失败次数过多，请于") and "Too many failed logins" in detail
    assert re.search(r"\d\d:\d\d:\d\d", detail)
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    page = client.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token})
    assert page.status_code == 429 and "登录失败次数过多" in page.text and page.headers["retry-after"]
    assert "cp_session" not in client.cookies
    failures = [e for e in server.login("admin").get("/api/audit", params={"action": "login_failed"}).json()]
    assert len(failures) == ACCOUNT.free and {e["address"] for e in failures} == {"127.0.0.1"}


class GatedHasher(PasswordHasher):
    """argon2id with test costs that holds each verification until the test opens the gate, and
    counts how many are inside at once."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.gate, self.lock = threading.Event(), threading.Lock()
        self.inside = self.peak = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002 - the base class's name
        with self.lock:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
        try:
            self.gate.wait(30)
            return super().verify(hash, password)
        finally:
            with self.lock:
                self.inside -= 1


def test_parallel_logins_hash_two_at_a_time(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = GatedHasher()
    monkeypatch.setattr(auth, "_HASHER", hasher)
    slots = HashingSlots(size=2, queue=16, wait_s=30)
    monkeypatch.setattr(auth, "HASHING", slots, raising=False)
    answers: list[int] = []

    def log_in(n: int) -> None:
        answer = httpx.post(f"{server.url}/api/session", json={"username": f"nobody-{n}", "password": "x" * 12},
                            timeout=60)
        answers.append(answer.status_code)

    threads = [threading.Thread(target=log_in, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    try:  # until all six are either hashing or waiting for a slot
        wait_until(lambda: hasher.inside + slots.waiting == 6, what="six logins under way")
        assert hasher.peak <= 2 and slots.waiting == 4
    finally:
        hasher.gate.set()
        for t in threads:
            t.join(60)
    assert answers == [401] * 6


def test_a_new_password_ends_the_other_sessions(server: Server, sqlite_store: Store) -> None:
    first, second, third = (server.login("operator") for _ in range(3))
    wrong = first.post("/api/me/password", json={"current": "not-my-password", "new": "a-new-long-password"})
    assert wrong.status_code == 403
    done = first.post("/api/me/password", json={"current": PASSWORD, "new": "a-new-long-password"})
    assert done.status_code == 204
    assert first.get("/api/me").status_code == 200  # the session that changed it stays
    assert second.get("/api/me").status_code == 401 and third.get("/api/me").status_code == 401
    assert server.client().post("/api/session", json={"username": "operator", "password": PASSWORD}).status_code == 401
    # an administrator's reset (`checkpoint central user password`) ends every session of the user
    accounts = Accounts(sqlite_store.engine)
    accounts.set_password("operator", "yet-another-password")
    assert first.get("/api/me").status_code == 401

"""Shared fixtures: a real Mosquitto on a free port, and a fresh PostgreSQL database."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from checkpoint.broker import Broker
from tests.pg import PostgresServer

ROOT = Path(__file__).resolve().parent
REALTIME = {  # tests that keep real time to the tenth of a second: run alone (`make test`), so load cannot starve them
    "drivers/camera/test_streams.py",
    "drivers/idcard/test_reader.py",
    "drivers/thermo/test_device.py",
    "deploy/test_capture_replay.py",
    "agent/test_kiosk_screens.py",
}
FAULT_RUNS = {  # a fleet under faults at moments of wall time, waiting on conditions for minutes: three at a time
    "faults",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        where = item.path.relative_to(ROOT).as_posix()
        for paths, mark in ((REALTIME, pytest.mark.realtime), (FAULT_RUNS, pytest.mark.faults)):
            if any(where == path or where.startswith(path + "/") for path in paths):
                item.add_marker(mark)
    # The long runs first: xdist hands out the first tests round-robin, so these overlap the many short
    # ones instead of ending last.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


PG_ADMIN_URL = os.environ.get(
    "CHECKPOINT_TEST_PG", "postgresql+psycopg://checkpoint:checkpoint@127.0.0.1:5432/postgres"
)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto of our own, with the project's local configuration; tests may kill and restart it."""
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database on the machine's server, dropped afterwards."""
    name = f"checkpoint_test_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure here means "no server to test against"
        admin.dispose()
        pytest.fail(f"PostgreSQL is needed at {PG_ADMIN_URL} (set CHECKPOINT_TEST_PG): {exc}")
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def own_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL of the test's own, initialised and not started: the test starts, stops and kills it."""
    server = PostgresServer()
    yield server
    server.remove()

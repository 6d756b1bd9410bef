"""`checkpoint central` as a service: its database away at start and mid-run, its broker away,
SIGTERM. What systemd sees (readiness, the watchdog), what /healthz says and what the log says."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from central.main import WEB_NICE
from central.store import Store
from checkpoint.broker import Broker
from contract import signing, topics
from tests import mqtt
from tests.central.conftest import KEY, CentralProcess
from tests.factories import verdict
from tests.pg import PostgresServer

TOPIC = topics.uplink("site-a", "box-a", "verdict")


def stored(url: str) -> int:
    store = Store(url)
    try:
        return store.counts()["stored"]
    finally:
        store.dispose()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """systemd's end of the notify protocol: a datagram socket the service writes to."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify.sock"))
        yield sock


def beats(sock: socket.socket, count: int, timeout: float = 15) -> None:
    """Wait for `count` more WATCHDOG=1 datagrams, each within `timeout` s of the one before."""
    sock.settimeout(timeout)
    got = 0
    while got < count:
        try:
            got += sock.recv(4096) == b"WATCHDOG=1"
        except TimeoutError:
            raise AssertionError(f"the watchdog went silent for {timeout:.0f} s after {got} beats") from None


def drain(sock: socket.socket) -> None:
    sock.setblocking(False)
    try:
        while sock.recv(4096):
            pass
    except BlockingIOError:
        sock.setblocking(True)


def test_started_while_its_database_is_down_central_waits_says_so_and_goes_on(
    tmp_path: Path, broker: Broker, own_pg: PostgresServer
) -> None:
    central = CentralProcess(tmp_path, broker, own_pg.url)
    central.start(wait=False)
    try:
        mqtt.wait_until(lambda: central.said("waiting for the database") == 1, timeout=30,
                        what="central to say it waits for the database")
        mqtt.wait_until(lambda: central.health()[0] == 503, timeout=30, what="/healthz")
        code, health = central.health()
        assert health["status"] == "waiting for the database" and "refused" in health["reason"], health
        own_pg.start()
        mqtt.wait_until(lambda: central.health()[0] == 200, timeout=60, what="central ready once the database is")
        store = Store(own_pg.url)
        store.register_device("box-a", "site-a", "traffic", KEY.hex())
        store.dispose()
        with mqtt.client(broker) as c:
            mqtt.publish(c, TOPIC, signing.sign(KEY, verdict(seq=1)))
        mqtt.wait_until(lambda: stored(own_pg.url) == 1, timeout=30, what="the verdict stored")
        assert central.said("database ready") == 1
        assert central.said("waiting for the database") == 1  # one line, however long it waited
    finally:
        central.stop()


def test_while_the_database_is_away_central_beats_reports_storage_unavailable_and_then_catches_up(
    tmp_path: Path, broker: Broker, own_pg: PostgresServer, notify_socket: socket.socket
) -> None:
    own_pg.start()
    store = Store(own_pg.url)
    store.migrate()
    store.register_device("box-a", "site-a", "traffic", KEY.hex())
    store.dispose()
    central = CentralProcess(tmp_path, broker, own_pg.url)
    central.start(env={"NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "1000000"})
    try:
        with mqtt.client(broker) as c:
            mqtt.publish(c, TOPIC, signing.sign(KEY, verdict(seq=1)))
            mqtt.wait_until(lambda: stored(own_pg.url) == 1, timeout=30, what="the first verdict")
            own_pg.kill()
            for seq in (2, 3):
                mqtt.publish(c, TOPIC, signing.sign(KEY, verdict(seq=seq)))
            mqtt.wait_until(lambda: central.health()[1].get("status") == "storage unavailable", timeout=60,
                            what="/healthz to say storage unavailable")
            code, health = central.health()
            assert code == 503 and health["backlog"] == 2 and health["last_commit_age_s"] is not None, health
            drain(notify_socket)
            beats(notify_socket, 5)  # systemd's watchdog is fed while central waits for its database
            assert central.said("storage unavailable: holding messages un-acknowledged and retrying") == 1
            own_pg.start()
            mqtt.wait_until(lambda: central.health()[0] == 200, timeout=60, what="central healthy again")
            mqtt.wait_until(lambda: stored(own_pg.url) == 3, timeout=30, what="the held verdicts")
        assert central.said("storage available again") == 1
        assert not [line for line in central.lines() if "exc" in line], "no tracebacks for a database away"
    finally:
        central.stop()


def test_the_broker_going_away_is_said_and_sigterm_stops_central_in_order(tmp_path: Path, broker: Broker) -> None:
    central = CentralProcess(tmp_path, broker, f"sqlite:///{tmp_path / 'central.sqlite'}")
    central.start()
    broker.kill()
    mqtt.wait_until(lambda: central.said("broker connection lost; reconnecting") == 1, timeout=30,
                    what="central to say the broker went away")
    code, health = central.health()
    assert code == 503 and health["status"] == "collector not subscribed", health
    broker.start()
    mqtt.wait_until(lambda: central.said("broker connection back") == 1, timeout=60, what="the broker back")
    assert central.proc is not None
    central.proc.terminate()
    assert central.proc.wait(30) == 0
    assert central.said("central stopped") == 1


def test_the_office_pages_are_served_by_a_process_apart_from_the_collector(tmp_path: Path, broker: Broker) -> None:
    """A heavy page must never take the collector's CPU or interpreter lock: the port that serves the
    pages belongs to a child process, not to the process that collects, and that child yields the CPU
    to the collector when the cores are all busy (a lower priority)."""
    central = CentralProcess(tmp_path, broker, f"sqlite:///{tmp_path / 'central.sqlite'}")
    central.start()
    try:
        assert central.proc is not None
        main = psutil.Process(central.proc.pid)
        listening = {c.laddr.port for c in main.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
        children = main.children()
        served_by_child = {
            child.pid for child in children
            for c in child.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port == central.port
        }
        assert central.port not in listening and len(served_by_child) == 1, (listening, children)
        (web,) = served_by_child
        assert psutil.Process(web).nice() == main.nice() + WEB_NICE > main.nice()
        mqtt.wait_until(lambda: central.health()[1].get("status") == "ok", timeout=30, what="/healthz ok")
    finally:
        central.stop()
    assert central.said("central stopped") == 1


def test_a_web_server_that_cannot_listen_stops_central_with_the_reason(tmp_path: Path, broker: Broker) -> None:
    central = CentralProcess(tmp_path, broker, f"sqlite:///{tmp_path / 'central.sqlite'}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", central.port))
        taken.listen()
        central.start(wait=False)
        assert central.proc is not None
        assert central.proc.wait(60) == 1
    stopped = [line for line in central.lines() if line["msg"] == "central stopped: a part of it ended by itself"]
    assert stopped and stopped[0]["part"] == "web", central.log.read_text()[-2000:]

"""The notify protocol against a real datagram socket, as systemd listens on it."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import sdnotify


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def test_ready_watchdog_and_stopping_arrive_as_datagrams(listener: socket.socket) -> None:
    assert sdnotify.ready("collector subscribed")
    assert listener.recv(4096) == b"READY=1\nSTATUS=collector subscribed"
    assert sdnotify.watchdog()
    assert listener.recv(4096) == b"WATCHDOG=1"
    assert sdnotify.stopping()
    assert listener.recv(4096) == b"STOPPING=1"


def test_a_service_manager_that_does_not_read_never_blocks_the_sender(listener: socket.socket) -> None:
    """The loops that beat are the ones doing the work: a full socket drops the message, it does not
    stop the collector (it did, once its queue of ten datagrams was full)."""
    sent = [sdnotify.watchdog() for _ in range(1000)]  # without the fix the eleventh or so waits forever
    assert sent[0] and not all(sent)
    assert listener.recv(4096) == b"WATCHDOG=1"


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"checkpoint-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_outside_systemd_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert not sdnotify.ready()
    assert sdnotify.watchdog_interval() is None


def test_watchdog_interval_is_half_the_units_and_only_for_its_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process (a parent that forked us)
    assert sdnotify.watchdog_interval() is None

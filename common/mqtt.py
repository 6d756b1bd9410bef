"""MQTT connection settings shared by the agent and central (paho-mqtt 2.x, MQTT 5)."""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeGuard

import paho.mqtt.client as mqtt
from pydantic import BaseModel, SecretStr


class MqttSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: SecretStr | None = None
    tls_ca: Path | None = None  # CA that signed the broker's certificate; enables TLS
    tls_cert: Path | None = None  # this client's certificate, for certificate login
    tls_key: Path | None = None
    keepalive_s: int = 30


_READ = 65536


class _Buffered:
    """A plain TCP socket, read in large pieces. paho reads each packet in several small reads (its
    type, each byte of its length, then the rest): four system calls for a verdict. This serves them
    from one read of up to 64 KiB (the collector's network thread: about 8 µs less a verdict). paho's
    loop asks a socket for `pending` bytes (a TLS socket buffers too) and reads on without waiting
    in select while there are some."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._data = b""
        self._at = 0

    def recv(self, size: int) -> bytes:
        if self._at >= len(self._data):
            self._data = self._sock.recv(_READ)  # raises as the socket does; b"": the peer closed
            self._at = 0
        piece = self._data[self._at : self._at + size]
        self._at += len(piece)
        return piece

    def pending(self) -> int:
        return len(self._data) - self._at

    def __getattr__(self, name: str) -> Any:  # send, fileno, close, setblocking…: the socket's own
        return getattr(self._sock, name)


def _tcp(sock: object) -> TypeGuard[socket.socket | _Buffered]:
    """A TCP socket (plain, buffered or TLS); not a Unix socket or paho's websocket wrapper."""
    inner = sock._sock if isinstance(sock, _Buffered) else sock
    return isinstance(inner, socket.socket) and inner.family in (socket.AF_INET, socket.AF_INET6)


class Client(mqtt.Client):
    """paho's client, on a socket that sends small packets at once (Nagle's algorithm would hold a
    PUBACK or a receipt for the peer's delayed ACK, ~40 ms, when messages are a little apart) and,
    plain TCP, is read in large pieces (TLS buffers its own records; a websocket transport is paho's).
    Three of paho's internals are used here, and tests/common/test_mqtt_client.py fails if they change."""

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if _tcp(sock):  # TLS too
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Buffered(sock) if type(sock) is socket.socket else sock

    def loop_write(self) -> mqtt.MQTTErrorCode:
        """Write what is queued; several packets corked, so that they go out in as few TCP segments as
        fit rather than one each (with TCP_NODELAY each PUBACK of a batch would be a segment, and on
        loopback the sender pays for its delivery too). Uncorking at the end sends the rest at once."""
        sock = self.socket()
        if len(self._out_packet) < 2 or not _tcp(sock) or not hasattr(socket, "TCP_CORK"):
            return super().loop_write()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        try:
            return super().loop_write()
        finally:
            with contextlib.suppress(OSError):  # closed while writing: nothing is left to send
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)

    @contextlib.contextmanager
    def one_wakeup(self) -> Iterator[None]:
        """Queue what is sent inside (acknowledgements, publishes) and wake paho's network thread once,
        at the end. Each `ack` or `publish` from another thread wakes it, with a system call on each
        side: a tenth of the collector's CPU per verdict, where a batch acknowledges hundreds of
        messages and sends a receipt to each box. Use from one thread only."""
        wake, self._sockpairW = self._sockpairW, None  # paho's own thread, awake, needs no waking
        try:
            yield
        finally:
            self._sockpairW = wake
            if wake is not None:
                with contextlib.suppress(BlockingIOError):  # full: the thread has wake-ups waiting already
                    wake.send(b"0")


def new_client(settings: MqttSettings, client_id: str, *, manual_ack: bool = False) -> Client:
    """A paho client configured from settings; the caller connects it."""
    client = Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls_ca is not None:
        client.tls_set(
            ca_certs=str(settings.tls_ca),
            certfile=str(settings.tls_cert) if settings.tls_cert else None,
            keyfile=str(settings.tls_key) if settings.tls_key else None,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client

"""MQTT connection settings shared by the agent and central (paho-mqtt 2.x, MQTT 5)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

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


def no_delay(client: mqtt.Client) -> None:
    """Send small packets at once: with Nagle's algorithm a PUBACK or a receipt waits for the peer's
    delayed ACK (~40 ms) when messages are a little apart. Call from on_connect."""
    sock = client.socket()
    if isinstance(sock, socket.socket):  # a websocket transport wraps its own
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def new_client(settings: MqttSettings, client_id: str, *, manual_ack: bool = False) -> mqtt.Client:
    """A paho client configured from settings; the caller connects it."""
    client = mqtt.Client(
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

"""The project's paho client (common.mqtt.new_client): small packets go out at once, and what arrives
is read in large pieces yet handed over whole, in order, without waiting for more to arrive."""

from __future__ import annotations

import queue
import socket
import threading
import time

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from checkpoint.broker import Broker
from common.mqtt import Client, MqttSettings, new_client
from tests.mqtt import client, publish, wait_until

# sizes around the socket's 64 KiB reads and MQTT's length bytes (1, 2 and 3 of them)
SIZES = [0, 1, 127, 128, 1000, 16_383, 16_384, 65_000, 65_536, 70_000, 200_000]


@pytest.mark.parametrize("manual_ack", [False, True])
def test_a_burst_arrives_whole_and_in_order_then_nothing_more_is_awaited(broker: Broker, manual_ack: bool) -> None:
    got: queue.Queue[bytes] = queue.Queue()
    subscribed = threading.Event()
    sub = new_client(MqttSettings(host=broker.host, port=broker.port), "reader", manual_ack=manual_ack)

    def received(c: object, _u: object, msg: object) -> None:
        got.put(bytes(msg.payload))  # type: ignore[attr-defined]
        if manual_ack:
            sub.ack(msg.mid, msg.qos)  # type: ignore[attr-defined]

    sub.on_message = received
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    try:
        sub.subscribe("burst", qos=1)
        assert subscribed.wait(5)
        sent = [bytes([n % 251]) * size for n, size in enumerate(SIZES * 20)]
        with client(broker) as pub:
            for payload in sent:
                pub.publish("burst", payload, qos=1)
            publish(pub, "burst", b"last")  # then silence: what the last read brought must not wait
        arrived = [got.get(timeout=10) for _ in range(len(sent) + 1)]
        assert arrived == [*sent, b"last"]
    finally:
        sub.disconnect()
        sub.loop_stop()


def test_small_packets_are_not_held_back(broker: Broker) -> None:
    c = new_client(MqttSettings(host=broker.host, port=broker.port), "nagle")
    c.connect(broker.host, broker.port)
    try:
        sock = c.socket()
        assert sock is not None and sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        c.disconnect()


def test_acks_of_a_batch_from_another_thread_go_out_at_once_and_acknowledge_each(broker: Broker) -> None:
    """one_wakeup wakes paho's network thread (waiting in select, which times out after a second) to
    send what it queued, and acknowledges every message: none comes again on the same session."""
    settings = MqttSettings(host=broker.host, port=broker.port)
    arrived: queue.Queue[tuple[int, int]] = queue.Queue()
    subscribed = threading.Event()

    def connect() -> Client:
        c = new_client(settings, "acker", manual_ack=True)
        c.on_message = lambda _c, _u, msg: arrived.put((msg.mid, msg.qos))
        c.on_subscribe = lambda *_: subscribed.set()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 60
        c.connect(broker.host, broker.port, clean_start=False, properties=props)
        c.loop_start()
        return c

    sub = connect()
    sub.subscribe("batch", qos=1)
    assert subscribed.wait(5)
    with client(broker) as pub:
        for n in range(20):
            publish(pub, "batch", str(n))
    batch = [arrived.get(timeout=5) for _ in range(20)]
    time.sleep(0.05)  # as a commit takes: paho's thread, with nothing to do, is waiting in select
    with sub.one_wakeup():
        for mid, qos in batch:
            sub.ack(mid, qos)
    wait_until(lambda: not sub.want_write(), timeout=0.5, what="the acks sent", every=0.01)
    sock = sub.socket()
    assert sock is not None and not sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK), "left corked"
    sub.disconnect()
    sub.loop_stop()
    again = connect()
    try:
        with pytest.raises(queue.Empty):
            arrived.get(timeout=2)
    finally:
        again.disconnect()
        again.loop_stop()

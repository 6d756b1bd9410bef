"""A plain paho subscriber (QoS 1, storing nothing): the baseline for the agent's outbox drain.

    python -m bench.children.raw_subscriber BROKER_PORT COUNT

Prints `ready` once subscribed to bench/drain/#, then `done <time.monotonic()>` when the COUNT-th
message has arrived; it stays until its stdin closes, so that the parent reads its CPU time first.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from bench.children import ready


def main(port: int, want: int) -> None:
    done, got = threading.Event(), [0]

    def on_message(_c: mqtt.Client, _u: Any, _m: mqtt.MQTTMessage) -> None:
        got[0] += 1
        if got[0] == want:
            print(f"done {time.monotonic()}", flush=True)
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw-sub", protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.on_subscribe = lambda *_: ready()
    client.on_connect = lambda c, *_: c.subscribe("bench/drain/#", qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(600)
    sys.stdin.read()
    client.loop_stop()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))

"""Fuzz central's message check (central/intake.py `check`): bytes and a topic in, `Accepted` out or
`Rejected` raised, and nothing else may escape (an escaping exception stops the collector's writer).

Input: `<flag byte><topic>\\n<payload>`. Flag `S`: when the payload is a JSON object, this target
signs it with the registered box's key first, so the fuzzer reaches the checks behind the signature.
The registry holds one box (`site-a/box-a`) and one revoked box. Contract checked: only `Accepted` or
`Rejected`; an accepted message names the topic's box and kind; a rejection's reason is short text.
"""

from __future__ import annotations

import json

from fuzz._harness import instrumented, main

with instrumented():
    from central.intake import Accepted, Rejected, check
    from central.store import DeviceKey
    from contract import signing, topics

NAME = "fuzz_central_check"
KEY = b"fuzz-device-key"
KEYS = {"box-a": DeviceKey(site="site-a", key=KEY, revoked=False),
        "box-r": DeviceKey(site="site-a", key=KEY, revoked=True)}
MAX_BYTES = 64 * 1024  # central's default ingest.max_payload_bytes
MAX_REASON = 2500


def resign(payload: bytes) -> bytes:
    """The payload with a good `sig` when it is a JSON object; unchanged otherwise (harness side)."""
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):
        return payload
    if not isinstance(obj, dict):
        return payload
    obj["sig"] = signing.signature(KEY, {k: v for k, v in obj.items() if isinstance(k, str)})
    try:
        return json.dumps(obj).encode()
    except (ValueError, RecursionError):
        return payload


def one_input(data: bytes) -> None:
    head, _, payload = data.partition(b"\n")
    topic = head[1:].decode("utf-8", "surrogateescape")
    if head[:1] == b"S":
        try:
            payload = resign(payload)
        except UnicodeEncodeError:  # lone surrogates: canonical() cannot encode them
            return
    try:
        accepted = check(topic, payload, KEYS, max_bytes=MAX_BYTES)
    except Rejected as exc:
        assert isinstance(exc.args[0], str) and len(exc.args[0]) <= MAX_REASON, "reason too long"
        return
    assert isinstance(accepted, Accepted)
    where = topics.parse_uplink(topic)
    assert where is not None and (accepted.kind, accepted.device) == (where.kind, where.device)
    assert KEYS[accepted.device].site == where.site and not KEYS[accepted.device].revoked


def seeds() -> list[bytes]:
    from tests.factories import verdict

    base = "checkpoint/v1/site-a/box-a/"
    status = ('{"type":"status","v":1,"site":"site-a","device":"box-a","state":"online","boot":2,'
              '"device_time":"2024-01-01T08:00:00+08:00","devices":{"idcard":"ok"}}')
    metrics = ('{"site":"site-a","device":"box-a","device_time":"2024-01-01T00:00:00Z","boot":1,"passages":3,'
               '"verdicts":{"pass":3},"outbox_depth":0,"outbox_capacity":10,"decode_fps":9.5}')
    return [
        b"S" + (base + "verdict\n").encode() + signing.sign(KEY, verdict(site="site-a", device="box-a")),
        b"-" + (base + "verdict\n").encode() + signing.sign(b"other", verdict(site="site-a", device="box-a")),
        b"-" + (base + "status\n" + status).encode(),
        b"-" + (base + "metrics\n" + metrics).encode(),
        b"-checkpoint/v1/site-a/box-r/status\n" + status.replace("box-a", "box-r").encode(),
        b"-checkpoint/v1/site-b/box-a/down/policy\n{}",
    ]


if __name__ == "__main__":
    main(NAME, one_input, seeds)

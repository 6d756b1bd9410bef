"""Fuzz the contract v1 message models (contract/messages.py) and topic parsing (contract/topics.py).

The first byte picks the model (every uplink and downlink model and `Receipt`); the rest is the JSON
a peer sent. Contract checked: validation raises only pydantic's `ValidationError`; a valid message
survives a JSON round trip unchanged (and the same in python mode); the same bytes as a topic parse
or give None, never raise.
"""

from __future__ import annotations

import json

from fuzz._harness import instrumented, main

with instrumented():
    from pydantic import ValidationError

    from contract import topics
    from contract.messages import DOWNLINK_MODELS, UPLINK_MODELS, DiagnosticsRequest, Model, Receipt

NAME = "fuzz_contract_models"
MODELS: list[type[Model]] = [*UPLINK_MODELS.values(), *DOWNLINK_MODELS.values(), Receipt, DiagnosticsRequest]


def one_input(data: bytes) -> None:
    if not data:
        return
    model, rest = MODELS[data[0] % len(MODELS)], data[1:]
    topic = rest.decode("utf-8", "surrogateescape")
    assert topics.parse_uplink(topic) is None or topic.startswith(topics.ROOT + "/")
    assert topics.parse_downlink(topic) is None or topic.startswith(topics.ROOT + "/")
    try:
        message = model.model_validate_json(rest)
    except ValidationError:
        return
    wire = message.model_dump_json()
    assert model.model_validate_json(wire) == message, "JSON round trip changed the message"
    assert model.model_validate(json.loads(wire)) == message, "python-mode round trip changed the message"


def seeds() -> list[bytes]:
    from tests.factories import verdict  # the synthetic verdict the test suite uses

    messages = {
        0: verdict().model_dump_json(),
        1: '{"site":"s","device":"d","state":"online","boot":1,"device_time":"2024-01-01T00:00:00Z",'
        '"devices":{"idcard":"ok"}}',
        2: '{"site":"s","device":"d","device_time":"2024-01-01T08:00:00+08:00","boot":1,"passages":3,'
        '"verdicts":{"pass":2,"deny":1},"outbox_depth":0,"outbox_capacity":10}',
        3: '{"version":"p-1","issued_at":"2024-01-01T00:00:00Z","document":{"fever_c":37.3}}',
        4: '{"version":"w-1","issued_at":"2024-01-01T00:00:00Z","pseudonyms":["' + "ab" * 32 + '"]}',
        5: '{"version":"r-1","issued_at":"2024-01-01T00:00:00Z","regions":["110105","420000"]}',
        6: '{"version":"c-1","issued_at":"2024-01-01T00:00:00Z","metrics_interval_s":30}',
        7: '{"device":"box-1","seqs":[[1,5],[7,7]]}',
    }
    return [bytes((index,)) + text.encode() for index, text in messages.items()]


if __name__ == "__main__":
    main(NAME, one_input, seeds)

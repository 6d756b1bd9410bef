"""The policy's JSON Schema that central checks pushes against stays the agent's model's schema."""

from __future__ import annotations

import json

import yaml

from agent.policy import DEFAULT_POLICY, Policy
from central.policy_check import SCHEMA_FILE, problems


def test_the_shipped_schema_is_the_policy_models_schema() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == Policy.model_json_schema()


def test_the_default_policy_passes_and_broken_ones_do_not() -> None:
    document = yaml.safe_load(DEFAULT_POLICY.read_text())
    assert problems(document) == []
    assert any("fever_c" in p for p in problems({**document, "fever_c": "hot"}))
    assert any("lorry" in p for p in problems({**document, "required": {"lorry": ["id"]}}))
    assert problems({**document, "surprise": 1}) != []
    assert problems([1, 2]) != []

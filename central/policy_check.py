"""Checking a policy document before central pushes it to the boxes.

Central may not import the agent (layers), so it checks the document against the JSON Schema of
`agent.policy.Policy`, shipped beside this module as policy.schema.json (a test keeps the file
equal to the model's schema). What a schema cannot say (the fever threshold inside the plausible
range, a rule for every code colour) the box checks on receipt: it keeps its policy and reports
the refusal in its next birth message, which the fleet page shows.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_FILE = Path(__file__).with_name("policy.schema.json")


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def problems(document: Any) -> list[str]:
    """What is wrong with the document, one line each (empty when it may be pushed)."""
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}"[:300] for e in errors]

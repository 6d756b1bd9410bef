"""Writing the calibrated offset into the box's YAML configuration without disturbing the rest.

The file is the deployer's: comments, order and layout must survive. So the key `thermo.offset_c`
is edited as text (replace its value, or add it under `thermo:`, or add the section), and the
result is checked by parsing both versions: if anything but that key differs (an unusual layout such
as a flow mapping), the file is rewritten from the parsed data instead, which keeps the content but
not the comments.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml

_SECTION = re.compile(r"^thermo:\s*(#.*)?$")
_CHILD = re.compile(r"^(?P<indent>[ ]+)\S")


def with_offset(text: str, offset_c: float) -> str:
    """`text` (a YAML document) with `thermo.offset_c` set to `offset_c`."""
    old = yaml.safe_load(text) or {}
    if not isinstance(old, dict) or not isinstance(old.get("thermo") or {}, dict):
        raise ValueError("the configuration is not a mapping with a `thermo:` mapping")
    expected: dict[str, Any] = copy.deepcopy(old)
    expected["thermo"] = {**(expected.get("thermo") or {}), "offset_c": round(offset_c, 2)}
    edited = _edit(text, f"{offset_c:.2f}")
    if yaml.safe_load(edited) == expected:
        return edited
    return yaml.safe_dump(expected, sort_keys=False, allow_unicode=True)


def _edit(text: str, value: str) -> str:
    lines = text.splitlines(keepends=True)
    top = next((i for i, line in enumerate(lines) if _SECTION.match(line)), None)
    if top is None:
        sep = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{sep}thermo:\n  offset_c: {value}\n"
    end = next((i for i in range(top + 1, len(lines))
                if lines[i].strip() and not lines[i].lstrip().startswith("#") and not lines[i][0].isspace()),
               len(lines))
    children = [m for line in lines[top + 1 : end] if (m := _CHILD.match(line)) and line.strip()[0] != "#"]
    indent = children[0]["indent"] if children else "  "
    key = re.compile(rf"^{indent}offset_c:[ \t]*(?P<value>[^#\n]*?)(?P<rest>[ \t]*(#.*)?\r?\n?)$")
    for i in range(top + 1, end):
        if m := key.match(lines[i]):
            lines[i] = f"{indent}offset_c: {value}{m['rest'] or chr(10)}"
            return "".join(lines)
    lines.insert(top + 1, f"{indent}offset_c: {value}\n")
    if not lines[top].endswith("\n"):
        lines[top] += "\n"
    return "".join(lines)

"""Text that people type into the office's forms and scripts, checked where it enters.

No control characters: PostgreSQL cannot store a NUL byte (the request would end in a server error
instead of an answer), and a control character has no place in a name, a reason or a destination.
Line breaks and tabs only where several lines make sense (notes, reasons).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator


def _without(allowed: str) -> AfterValidator:
    def check(value: str) -> str:
        if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
            raise ValueError("text without control characters")
        return value

    return AfterValidator(check)


Line = Annotated[str, _without("")]
Paragraph = Annotated[str, _without("\n\r\t")]

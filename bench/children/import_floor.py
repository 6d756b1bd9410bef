"""An interpreter that imports what the agent's camera path needs and nothing else: the floor under
the agent's memory (its RSS is read by the parent while this waits for its stdin to close).

    python -m bench.children.import_floor
"""

from __future__ import annotations

import sys

import cv2  # noqa: F401
import numpy  # noqa: F401
import pyzbar.pyzbar  # noqa: F401
import zxingcpp  # noqa: F401

from bench.children import ready

if __name__ == "__main__":
    ready()
    sys.stdin.read()

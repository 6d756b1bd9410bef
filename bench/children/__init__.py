"""Programs the benchmarks run in child processes, one module each (`python -m bench.children.<name>`).

A child process keeps its CPU out of the parent's figures, and some things (a collector replica, a
plain paho subscriber) are measured as the separate processes they are when deployed. Each program
prints `ready` once started (some then print a line of what the parent needs) and runs until the
parent closes its stdin: bench.harness.child_processes starts and stops them.
"""

from __future__ import annotations

import sys
import threading


def ready() -> None:
    print("ready", flush=True)


def stdin_closed() -> threading.Event:
    """An event set when the parent closes our stdin: the signal to stop."""
    closed = threading.Event()

    def wait() -> None:
        sys.stdin.read()
        closed.set()

    threading.Thread(target=wait, name="stdin", daemon=True).start()
    return closed

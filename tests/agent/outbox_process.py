"""An agent's outbox in a process of its own, for tests that crash it: opened as the agent opens it
(the station's connection, then the publisher's), it records a verdict for each line read on stdin and
answers each with the sequence number committed. Run: python -m tests.agent.outbox_process PATH"""

from __future__ import annotations

import sys
from pathlib import Path

from agent.outbox import Outbox


def main(path: Path) -> None:
    station = Outbox(path).open(new_boot=True)
    publisher = Outbox(path, durable=False).open()  # as agent.link opens its own
    print("open", flush=True)
    for _ in sys.stdin:
        seq = station.next_seq()
        station.append(seq, f"id-{seq}", False, "checkpoint/v1/s/d/verdict", b"{}")
        print(seq, flush=True)
    publisher.close()
    station.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

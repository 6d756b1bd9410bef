"""Where a passage becomes a verdict: decide, sign, commit to the outbox — before anyone sees it.

`record` returns only after the verdict is durably committed; if the commit fails (a full disk),
it raises and the caller must show the staff that nothing was recorded, never a verdict.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from agent.facts import PassageFacts
from agent.outbox import Outbox
from agent.policy import Policy, decide
from agent.verdicts import BoxIdentity, build
from contract import signing, topics
from contract.messages import Override, Verdict


class Lists:
    """The watch-list and risk areas in force, replaced whole when central pushes new ones."""

    def __init__(self) -> None:
        self.watchlist: frozenset[str] = frozenset()
        self.watchlist_version = ""
        self.risk_areas: frozenset[str] = frozenset()
        self.risk_areas_version = ""


class Recorder:
    def __init__(
        self,
        box: BoxIdentity,
        signing_key: bytes,
        outbox: Outbox,
        policy: Callable[[], Policy],
        lists: Lists,
        *,
        home_province: str | None = None,
        clock_synced: Callable[[], bool] = lambda: True,
        committed: Callable[[], None] = lambda: None,
    ) -> None:
        self.box = box
        self._key = signing_key
        self._outbox = outbox
        self.policy = policy
        self._lists = lists
        self._home_province = home_province
        self._clock_synced = clock_synced
        self._committed = committed
        self._lock = threading.Lock()  # one writer: sequence numbers are assigned in order
        self.counts: Counter[str] = Counter()

    def record(self, facts: PassageFacts, override: Override | None = None, supersedes: UUID | None = None) -> Verdict:
        """Decide, sign and commit; with `override`, staff's decision replaces the policy's (a new verdict
        that `supersedes` the one shown)."""
        policy = self.policy()
        outcome = decide(
            policy,
            self.box.kind,
            facts,
            pseudonym=self.box.pseudonym(facts),
            watchlist=self._lists.watchlist,
            risk_areas=self._lists.risk_areas,
            home_province=self._home_province,
        )
        with self._lock:
            verdict = build(
                self.box,
                facts,
                outcome,
                epoch=self._outbox.epoch,
                seq=self._outbox.next_seq(),
                boot=self._outbox.boot,
                policy_version=policy.version,
                now=datetime.now(UTC),
                clock_synced=self._clock_synced(),
                override=override,
                supersedes=supersedes,
            )
            payload = signing.sign(self._key, verdict)
            topic = topics.uplink(self.box.site, self.box.device, "verdict")
            self._outbox.append(verdict.seq, str(verdict.id), verdict.flagged, topic, payload)
        self.counts[verdict.decision.value] += 1
        self._committed()
        return verdict

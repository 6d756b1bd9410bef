"""What central pushes to a box (retained): the policy, the watch-list, the risk areas.

Each push is validated before it replaces what is in force; a bad policy is refused with the
reason (reported in the next birth message) and the old one kept. Accepted pushes are saved in
the state directory, so a box that restarts without the broker still applies them. A push
addressed to this box wins over the broadcast one of the same kind.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pydantic import ValidationError

from agent.config import AgentSettings
from agent.policy import DEFAULT_POLICY, Policy
from agent.recorder import Lists
from checkpoint.settings import describe
from contract import topics
from contract.messages import DOWNLINK_MODELS, ConfigPush, PolicyPush, RiskAreasPush, WatchlistPush

log = logging.getLogger(__name__)


class Downlinks:
    def __init__(self, settings: AgentSettings) -> None:
        self._state = settings.state_dir
        self._policy_file = settings.policy_file or DEFAULT_POLICY
        self._own_prefix = f"{topics.ROOT}/{settings.site}/{settings.device}/down/"
        self._lock = threading.Lock()
        self._policy: Policy | None = None
        self._own: set[str] = set()  # kinds received on this box's own topic
        self.lists = Lists()
        self.policy_rejected: str | None = None
        self.metrics_interval_s: float | None = None  # central's setting, else the box's own
        self.config_version = ""  # of the last settings central pushed
        self.on_change: Callable[[], None] = lambda: None

    def policy(self) -> Policy:
        with self._lock:
            if self._policy is None:
                self._load_saved()
            assert self._policy is not None
            return self._policy

    def _load_saved(self) -> None:
        """The pushed documents saved by an earlier run, else the configured policy file."""
        self._policy = Policy.from_yaml(self._policy_file)
        for what in DOWNLINK_MODELS:
            saved = self._state / f"{what}.json"
            if saved.exists():
                try:
                    self._apply(what, saved.read_bytes())
                except (ValueError, ValidationError) as exc:
                    log.error("ignoring a saved push", extra={"file": str(saved), "error": str(exc)})

    def receive(self, topic: str, payload: bytes) -> None:
        """Called by the MQTT link for every downlink message."""
        what = topics.parse_downlink(topic)
        if what is None or what not in DOWNLINK_MODELS or not payload:
            return
        own = topic.startswith(self._own_prefix)
        if not own and what in self._own:
            return  # this box has its own; the broadcast does not replace it
        self.policy()  # make sure the saved state is loaded first
        try:
            with self._lock:
                self._apply(what, payload)
                if own:
                    self._own.add(what)
        except (ValueError, ValidationError) as exc:
            reason = describe(exc) if isinstance(exc, ValidationError) else str(exc)
            log.error("refused a pushed document", extra={"what": what, "reason": reason})
            if what == "policy":
                self.policy_rejected = reason[:500]
            self.on_change()
            return
        self._state.mkdir(parents=True, exist_ok=True)
        tmp = self._state / f"{what}.json.tmp"
        tmp.write_bytes(payload)
        tmp.replace(self._state / f"{what}.json")
        if what == "policy":
            self.policy_rejected = None
        log.info("applied a pushed document", extra={"what": what})
        self.on_change()

    def _apply(self, what: str, payload: bytes) -> None:
        message = DOWNLINK_MODELS[what].model_validate_json(payload)
        if isinstance(message, PolicyPush):
            policy = Policy.model_validate(message.document)
            if policy.version != message.version:
                raise ValueError(f"the document says version {policy.version}, the push {message.version}")
            self._policy = policy
        elif isinstance(message, WatchlistPush):
            self.lists.watchlist = frozenset(message.pseudonyms)
            self.lists.watchlist_version = message.version
        elif isinstance(message, RiskAreasPush):
            self.lists.risk_areas = frozenset(message.regions)
            self.lists.risk_areas_version = message.version
        elif isinstance(message, ConfigPush):
            self.metrics_interval_s = message.metrics_interval_s
            self.config_version = message.version

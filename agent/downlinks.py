"""What central sends a box: receipts, identity conflicts, diagnostics requests, and (retained) the
policy, the watch-list, the risk areas, the pre-registrations and settings.

Nothing is obeyed unless central signed it (contract.signing: Ed25519, the box holds the public
key): anyone able to publish on the broker could otherwise make a box delete unsent verdicts or
adopt a policy. A retained push older than the one in force is refused too (a replayed old
policy). Each push is validated before it replaces what is in force; a bad one is refused with
the reason (a refused policy is reported in the next birth message) and the old one kept.
Accepted pushes are saved in the state directory as received (`<what>.json` from the broadcast,
`<what>.own.json` addressed to this box), and checked again when loaded, so a box that restarts
without the broker still applies them. A push addressed to this box wins over the broadcast one
of the same kind; a push older than the last one from the same source is a replay. Every downlink
refused (unsigned, forged, malformed, replayed) is counted, and the count goes to central with the
box's next diagnostics answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from agent.config import AgentSettings
from agent.policy import DEFAULT_POLICY, Policy
from agent.station import Lists, Registrations
from common.settings import describe
from contract import signing, topics
from contract.messages import (
    DOWNLINK_MODELS,
    ConfigPush,
    DiagnosticsRequest,
    IdentityConflict,
    PolicyPush,
    Receipt,
    RegistrationsPush,
    RiskAreasPush,
    UpdatePush,
    WatchlistPush,
)

log = logging.getLogger(__name__)
M = TypeVar("M", Receipt, IdentityConflict, DiagnosticsRequest)


class Downlinks:
    def __init__(self, settings: AgentSettings) -> None:
        self._state = settings.state_dir
        self._policy_file = settings.policy_file or DEFAULT_POLICY
        self._own_prefix = f"{topics.ROOT}/{settings.site}/{settings.device}/down/"
        self._device = settings.device
        self._central: Ed25519PublicKey = signing.public_key(settings.central_key.value().hex())
        self._key = settings.signing_key.value()  # central MACs this box's receipts with it (contract.signing)
        self._lock = threading.Lock()
        self._policy: Policy | None = None
        self._own: set[str] = set()  # kinds received on this box's own topic
        self._issued: dict[tuple[str, bool], datetime] = {}  # (kind, own) -> issue time of the last applied
        self.lists = Lists()
        self.policy_rejected: str | None = None
        self.refused = 0  # downlinks refused since the agent started
        self.metrics_interval_s: float | None = None  # central's setting, else the box's own
        self.config_version = ""  # of the last settings central pushed
        self.update: UpdatePush | None = None  # the release central last told this box to run
        self.on_update: Callable[[UpdatePush], None] = lambda _u: None
        self.on_change: Callable[[], None] = lambda: None
        self.on_receipt: Callable[[Receipt], None] = lambda _r: None
        self.on_conflict: Callable[[IdentityConflict], None] = lambda _c: None
        self.on_diagnostics: Callable[[DiagnosticsRequest], None] = lambda _r: None

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
            for own in (False, True):
                saved = self._saved(what, own)
                if saved.exists():
                    try:
                        self._apply(what, saved.read_bytes(), own)
                    except (ValueError, ValidationError) as exc:
                        log.error("ignoring a saved push", extra={"file": str(saved), "error": str(exc)[:300]})

    def _saved(self, what: str, own: bool) -> Path:
        return self._state / f"{what}{'.own' if own else ''}.json"

    def receive(self, topic: str, payload: bytes) -> None:
        """Called by the MQTT link for every downlink message."""
        what = topics.parse_downlink(topic)
        if what is None or not payload:
            return
        if what == "receipt":
            receipt = self._opened(what, payload, Receipt)
            if receipt is not None and receipt.device == self._device:
                self.on_receipt(receipt)
            return
        if what == "conflict":
            conflict = self._opened(what, payload, IdentityConflict)
            if conflict is not None and conflict.device == self._device:
                self.on_conflict(conflict)
            return
        if what == "diagnostics":
            request = self._opened(what, payload, DiagnosticsRequest)
            if request is not None and request.device == self._device:
                self.on_diagnostics(request)
            return
        if what not in DOWNLINK_MODELS:
            return
        own = topic.startswith(self._own_prefix)
        self.policy()  # make sure the saved state is loaded first
        try:
            with self._lock:
                applied = self._apply(what, payload, own)
        except (ValueError, ValidationError) as exc:
            reason = describe(exc) if isinstance(exc, ValidationError) else str(exc)
            self.refused += 1
            log.error("refused a pushed document", extra={"what": what, "reason": reason[:500]})
            if what == "policy":
                self.policy_rejected = reason[:500]
            self.on_change()
            return
        if not applied:
            return  # the one in force, delivered again (retained, on every connect)
        self._state.mkdir(parents=True, exist_ok=True)
        saved = self._saved(what, own)
        tmp = saved.with_name(saved.name + ".tmp")
        tmp.write_bytes(payload)
        tmp.replace(saved)
        if what == "policy":
            self.policy_rejected = None
        log.info("applied a pushed document", extra={"what": what})
        if what == "update" and self.update is not None:
            self.on_update(self.update)
        self.on_change()

    def _opened(self, what: str, payload: bytes, model: type[M]) -> M | None:
        try:
            return signing.opened(self._central, payload, model, box_key=self._key if model is Receipt else None)
        except (ValueError, ValidationError) as exc:  # BadSignature is a ValueError
            self.refused += 1
            log.error("refused a downlink", extra={"what": what, "reason": str(exc)[:300]})
            return None

    def _apply(self, what: str, payload: bytes, own: bool) -> bool:
        """Put a signed push in force; False when it is the one already in force, or a broadcast
        while this box has its own."""
        message = signing.opened(self._central, payload, DOWNLINK_MODELS[what])
        issued = getattr(message, "issued_at")  # noqa: B009 - every push has one
        last = self._issued.get((what, own))
        if last is not None and issued <= last:
            if issued == last:
                return False
            raise ValueError(f"issued {issued.isoformat()}, before the last {what} pushed: a replayed old push")
        self._issued[(what, own)] = issued
        if own:
            self._own.add(what)
        elif what in self._own:
            return False
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
        elif isinstance(message, RegistrationsPush):
            self.lists.registrations = Registrations(message)
        elif isinstance(message, ConfigPush):
            self.metrics_interval_s = message.metrics_interval_s
            self.config_version = message.version
        elif isinstance(message, UpdatePush):
            self.update = message
        return True

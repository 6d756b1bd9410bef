"""Webhook alerts for new cases and for obligations gone overdue: POST a small JSON document,
retry with doubling delays.

Theory of operation: ingest writes one `alerts` row per URL in the transaction that opens the
case, and the overdue scan in the transaction that marks an obligation overdue. Each replica runs
a sender that looks for due rows, takes a lease on one with a conditional UPDATE (so two
replicas never post the same alert at once), posts it, and records the outcome:
delivered, or the next attempt `first_retry_s * 2**attempts` later (capped), until
`max_attempts`, after which the alert is marked given up (and stays visible on the case page). A
replica that dies holding a lease lets it lapse, and another picks the alert up: a receiver may
see an alert twice, never zero times; `alert_id` lets it tell.

The document carries the masked ID and where the person was seen, never the identity.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, and_, or_, select
from sqlalchemy.exc import SQLAlchemyError

from central.config import WebhookSettings
from central.schema import alerts, cases, obligations
from central.sql import aware, now, storage_error
from common.logs import Trouble

log = logging.getLogger(__name__)


class AlertSender:
    def __init__(self, engine: Engine, settings: WebhookSettings, public_url: str = "") -> None:
        self.engine = engine
        self.settings = settings
        self.public_url = public_url.rstrip("/")
        self.lease = timedelta(seconds=settings.timeout_s * 2 + 5)

    def run(self, stop: threading.Event) -> None:
        """Send what is due until `stop`. While the database is away, say so once and keep trying."""
        trouble = Trouble(log, "webhook sender")
        with httpx.Client(timeout=self.settings.timeout_s) as http:
            while not stop.is_set():
                try:
                    sent = self.send_due(http)
                    trouble.ok()
                except SQLAlchemyError as exc:
                    trouble.failed(f"storage unavailable: {storage_error(exc)}")
                    sent = 0
                except Exception as exc:  # noqa: BLE001 - the top of a long-running loop: log, wait, go on
                    trouble.failed(f"{type(exc).__name__}: {exc}"[:300], traceback=True)
                    sent = 0
                if not sent:
                    stop.wait(self.settings.poll_s)

    def send_due(self, http: httpx.Client, limit: int = 20) -> int:
        """Try every due alert once; how many were tried."""
        at = now()
        free = or_(alerts.c.lease_until.is_(None), alerts.c.lease_until < at)
        due = and_(alerts.c.delivered_at.is_(None), alerts.c.gave_up.is_(False), alerts.c.next_at <= at, free)
        with self.engine.connect() as conn:
            ids = list(conn.scalars(select(alerts.c.id).where(due).order_by(alerts.c.next_at).limit(limit)))
        tried = 0
        for alert_id in ids:
            with self.engine.begin() as conn:
                taken = conn.execute(
                    alerts.update().where(alerts.c.id == alert_id, due).values(lease_until=at + self.lease)
                ).rowcount
            if taken:
                self._send(http, alert_id)
                tried += 1
        return tried

    def _send(self, http: httpx.Client, alert_id: int) -> None:
        with self.engine.connect() as conn:
            alert = conn.execute(select(alerts).where(alerts.c.id == alert_id)).mappings().one()
            case = conn.execute(select(cases).where(cases.c.id == alert["case_id"])).mappings().first()
            owed = None if alert["obligation_id"] is None else conn.execute(
                select(obligations).where(obligations.c.id == alert["obligation_id"])).mappings().first()
        error = None
        try:
            document = self.document(alert_id, case)
            if alert["obligation_id"] is not None:
                document = self.overdue(document, owed)
            response = http.post(alert["url"], json=document)
            if not response.is_success:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        attempts = alert["attempts"] + 1
        values: dict[str, Any] = dict(attempts=attempts, lease_until=None, last_error=error)
        if error is None:
            values["delivered_at"] = now()
        elif attempts >= self.settings.max_attempts:
            values["gave_up"] = True
            log.error("webhook alert given up", extra={"alert": alert_id, "url": alert["url"], "error": error})
        else:
            delay = min(self.settings.max_retry_s, self.settings.first_retry_s * 2 ** (attempts - 1))
            values["next_at"] = now() + timedelta(seconds=delay)
            log.warning("webhook alert failed", extra={"alert": alert_id, "retry_in_s": delay, "error": error})
        with self.engine.begin() as conn:
            conn.execute(alerts.update().where(alerts.c.id == alert_id).values(**values))

    def document(self, alert_id: int, case: Any) -> dict[str, Any]:
        if case is None:  # purged before its alert went out
            return {"type": "case_opened", "alert_id": alert_id, "case": None}
        return {
            "type": "case_opened",
            "alert_id": alert_id,
            "case": case["id"],
            "link": f"{self.public_url}/cases/{case['id']}" if self.public_url else "",
            "severity": case["severity"],
            "reasons": case["reasons"],
            "first_site": case["first_site"],
            "first_seen": aware(case["first_seen"]).isoformat(),
            "id_masked": case["id_masked"],
            "plate": case["plate"],
            "origin": case["origin"],
            "destination": case["destination"],
        }

    def overdue(self, document: dict[str, Any], owed: Any) -> dict[str, Any]:
        """The case's document, as an obligation on it gone overdue: what is owed, by whom, since when."""
        document = {**document, "type": "obligation_overdue"}
        if owed is not None:
            document["obligation"] = {
                "id": owed["id"], "kind": owed["kind"], "node": owed["node"], "state": owed["state"],
                "deadline": aware(owed["deadline"]).isoformat(),
            }
        return document

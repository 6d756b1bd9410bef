"""Webhook alerts for new cases, against a real HTTP server on loopback that fails on purpose."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, select, update

from central.config import WebhookSettings
from central.schema import alerts
from central.sql import aware, now
from central.store import Store
from central.webhooks import AlertSender
from tests import mqtt
from tests.central.conftest import KEY, flagged, rows, synthetic_id
from tests.pg import PostgresServer


class Receiver:
    """Answers 500 to the first `failures` posts, then 204; keeps every body."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.bodies: list[dict[str, object]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
                receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(500 if len(receiver.bodies) <= receiver.failures else 204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return  # keep the test output quiet

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,))  # 0.05 s: a quick shutdown


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(failures=2)
    r.thread.start()
    yield r
    r.httpd.shutdown()
    r.thread.join()
    r.httpd.server_close()


def _alert(store: Store) -> dict[str, object]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(alerts)).mappings().one())


def _time_passes(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(alerts).values(next_at=now()))


def test_a_new_case_is_posted_with_retries_and_doubling_delays(tmp_path: Path, receiver: Receiver) -> None:
    store = Store(f"sqlite:///{tmp_path / 'c.sqlite'}", alert_urls=[receiver.url])
    store.migrate()
    store.register_device("box-a", "site-a", "traffic", KEY.hex())
    store.write_batch(rows(flagged(1)))
    store.write_batch(rows(flagged(2)))  # the same person: joins the case, no second alert
    sender = AlertSender(store.engine, WebhookSettings(first_retry_s=10, max_retry_s=300), "https://office.example")
    delays = []
    with httpx.Client(timeout=5) as http:
        for _ in range(3):
            assert sender.send_due(http) == 1
            alert = _alert(store)
            delays.append((aware(alert["next_at"]) - now()).total_seconds())  # type: ignore[arg-type]
            assert sender.send_due(http) == 0  # not due before its delay
            _time_passes(store)
    alert = _alert(store)
    assert alert["attempts"] == 3 and alert["delivered_at"] is not None and alert["last_error"] is None
    assert 9 < delays[0] <= 10 and 19 < delays[1] <= 20  # 10 s, then 20 s
    assert len(receiver.bodies) == 3
    body = receiver.bodies[-1]
    assert body["type"] == "case_opened" and body["first_site"] == "site-a"
    assert body["link"] == f"https://office.example/cases/{body['case']}"
    assert synthetic_id(seq=1) not in json.dumps(body, ensure_ascii=False)  # masked only
    store.dispose()


def test_an_alert_is_given_up_after_its_attempts(tmp_path: Path, receiver: Receiver) -> None:
    receiver.failures = 100
    store = Store(f"sqlite:///{tmp_path / 'c.sqlite'}", alert_urls=[receiver.url, "http://127.0.0.1:1/closed"])
    store.migrate()
    store.register_device("box-a", "site-a", "traffic", KEY.hex())
    store.write_batch(rows(flagged(1)))
    sender = AlertSender(store.engine, WebhookSettings(max_attempts=2))
    with httpx.Client(timeout=5) as http:
        for _ in range(2):
            assert sender.send_due(http) == 2
            _time_passes(store)
        assert sender.send_due(http) == 0
    with store.engine.connect() as conn:
        found = conn.execute(select(alerts.c.gave_up, alerts.c.last_error).order_by(alerts.c.id)).all()
    assert [g for g, _ in found] == [True, True]
    assert found[0][1] == "HTTP 500" and "ConnectError" in found[1][1]
    store.dispose()


def test_a_database_away_is_told_once_and_its_return_once(
    own_pg: PostgresServer, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Not a traceback on every poll: one line when the sender starts failing, one when it works again."""
    store = Store(own_pg.start().url, alert_urls=[receiver.url])
    store.migrate()
    tries = []
    event.listen(store.engine, "handle_error", lambda context: tries.append(context))
    sender = AlertSender(store.engine, WebhookSettings(poll_s=0.01))
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop,))
    with caplog.at_level(logging.INFO, logger="central.webhooks"):
        thread.start()
        try:
            own_pg.kill()
            mqtt.wait_until(lambda: len(tries) >= 20, timeout=60, what="twenty polls of a database that is away")
            own_pg.start()
            mqtt.wait_until(lambda: "webhook sender working again" in caplog.messages, timeout=60,
                            what="the sender to see the database back")
        finally:
            stop.set()
            thread.join(10)
            store.dispose()
    failing, back = (r for r in caplog.records if r.name == "central.webhooks")  # twenty polls, two lines
    assert (failing.getMessage(), back.getMessage()) == ("webhook sender failing; trying again",
                                                         "webhook sender working again")
    assert not failing.exc_info and failing.reason.startswith("storage unavailable: ")  # type: ignore[attr-defined]

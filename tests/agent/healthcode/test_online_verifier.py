"""The online verifier against a real HTTP server on loopback (no mocks)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.healthcode.online_verifier import OnlineIssuer, OnlineSettings, OnlineVerifier
from agent.healthcode.status import CodeStatus, Undecided
from contract.messages import CodeColour, ColourSource
from tests.agent.healthcode.helpers import NOW

ANSWERS = {
    "GREEN1": (200, json.dumps({"colour": "green", "issuer": "gd-hc", "detail": "ok"}).encode()),
    "RED1": (200, json.dumps({"colour": "red"}).encode()),
    "UNKNOWN": (404, b"{}"),
    "BROKEN": (500, b"oops"),
    "JUNK": (200, b"<html>login</html>"),
}


class Issuer:
    """A tiny issuer: /status/<token> answers from ANSWERS; SLOW answers only once the test is over."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.released = threading.Event()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = self.path.rsplit("/", 1)[-1]
                issuer.hits[token] += 1
                if token == "SLOW":
                    issuer.released.wait(30)
                status, body = ANSWERS.get(token, (404, b""))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)  # quick shutdown

    def start(self) -> Issuer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    server = Issuer().start()
    yield server
    server.stop()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _verifier(port: int, clock: Clock | None = None, **settings: object) -> OnlineVerifier:
    rule = OnlineIssuer(
        name="gd-hc",
        pattern=r"^https://hc\.example\.gov\.cn/c/(?P<token>[A-Z0-9]+)$",
        lookup_url=f"http://127.0.0.1:{port}/status/{{token}}",
    )
    config = OnlineSettings.model_validate({"issuers": [rule], "timeout_s": 0.3, **settings})
    return OnlineVerifier(config, clock=clock or time.monotonic)


def _check(verifier: OnlineVerifier, token: str) -> CodeStatus | Undecided:
    return verifier.check(f"https://hc.example.gov.cn/c/{token}", CodeColour.YELLOW, NOW)


def test_the_issuers_answer_decides(issuer: Issuer) -> None:
    verifier = _verifier(issuer.port)
    status = _check(verifier, "GREEN1")
    assert isinstance(status, CodeStatus)
    assert (status.colour, status.source, status.issuer, status.detail) == (
        CodeColour.GREEN,
        ColourSource.ONLINE_LOOKUP,
        "gd-hc",
        "ok",
    )
    verifier.close()


def test_a_code_the_issuer_does_not_know_is_forged(issuer: Issuer) -> None:
    status = _check(_verifier(issuer.port), "UNKNOWN")
    assert isinstance(status, CodeStatus) and status.forged and status.colour is CodeColour.UNKNOWN


@pytest.mark.parametrize(("token", "note"), [("BROKEN", "HTTP 500"), ("JUNK", "something else")])
def test_an_answer_it_cannot_use_steps_aside_with_a_note(issuer: Issuer, token: str, note: str) -> None:
    outcome = _check(_verifier(issuer.port), token)
    assert isinstance(outcome, Undecided) and note in outcome.note


def test_answers_are_cached_for_the_ttl(issuer: Issuer) -> None:
    clock = Clock()
    verifier = _verifier(issuer.port, clock, cache_ttl_s=60)
    for _ in range(3):
        assert isinstance(_check(verifier, "RED1"), CodeStatus)
    assert issuer.hits["RED1"] == 1
    clock.now += 61
    _check(verifier, "RED1")
    assert issuer.hits["RED1"] == 2


def test_the_cache_is_bounded(issuer: Issuer) -> None:
    verifier = _verifier(issuer.port, cache_size=1)
    _check(verifier, "GREEN1")
    _check(verifier, "RED1")  # pushes GREEN1 out
    _check(verifier, "GREEN1")
    assert issuer.hits["GREEN1"] == 2


def test_a_slow_issuer_times_out_and_is_left_alone_for_a_while(issuer: Issuer) -> None:
    clock = Clock()
    verifier = _verifier(issuer.port, clock, offline_hold_s=15)
    outcome = _check(verifier, "SLOW")  # the issuer has not answered (and will not while the test runs)
    assert not issuer.released.is_set() and issuer.hits["SLOW"] == 1
    assert isinstance(outcome, Undecided) and "unreachable" in outcome.note
    outcome = _check(verifier, "GREEN1")  # within the hold: not even tried
    assert isinstance(outcome, Undecided) and "not retried" in outcome.note
    assert issuer.hits["GREEN1"] == 0
    clock.now += 16
    assert isinstance(_check(verifier, "GREEN1"), CodeStatus)


def test_an_issuer_that_is_down_falls_back_at_once() -> None:
    down = Issuer()  # bound, never served, then closed: connections are refused
    port = down.port
    down.server.server_close()
    outcome = _check(_verifier(port), "GREEN1")
    assert isinstance(outcome, Undecided) and "unreachable" in outcome.note


def test_payloads_of_no_configured_issuer_are_not_looked_up(issuer: Issuer) -> None:
    verifier = _verifier(issuer.port)
    assert verifier.check("https://other.example.com/c/GREEN1", CodeColour.GREEN, NOW) == Undecided()
    assert sum(issuer.hits.values()) == 0

"""A box's lives at central: reports judged by the box's own counters; a lost outbox shown as what it
never delivered; two boxes with one identity detected, and the second told (signed) to stop."""

from __future__ import annotations

import json
import queue
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from central import queries
from central.ingest import Collector
from central.lives import Judgement, Life, Report, judge
from central.regions import WHOLE
from checkpoint.broker import Broker
from checkpoint.cli import app
from contract import signing, topics
from contract.messages import WILL_ORDER, Decision, IdentityConflict, LostLife
from tests import mqtt
from tests.central.conftest import KEY, flagged
from tests.factories import DOWNLINK_KEY, status, verdict

A, B = "a" * 16, "b" * 16
CUR = Life(A, (2, 3, 10), first_seen=100)

CASES = [
    ("the first report of a box", None, None, Report(A, (1, 1, 1), True), Judgement.NEW_LIFE),
    ("a newer report of the current life", CUR, CUR, Report(A, (2, 3, 11), True), Judgement.APPLY),
    ("the will of the current connection", CUR, CUR, Report(A, (2, 3, WILL_ORDER), False), Judgement.APPLY),
    ("an older report of the current life", CUR, CUR, Report(A, (2, 3, 9), True), Judgement.STALE),
    ("a death of an earlier boot", CUR, CUR, Report(A, (1, 9, WILL_ORDER), False), Judgement.STALE),
    ("the birth of the next connection", CUR, CUR, Report(A, (2, 4, 1), True), Judgement.APPLY),
    ("a life never seen: the outbox was lost", CUR, None, Report(B, (1, 1, 1), True), Judgement.NEW_LIFE),
    ("a life seen only through its verdicts", CUR, Life(B, (0, 0, 0), 150), Report(B, (1, 1, 1), True),
     Judgement.NEW_LIFE),
    ("a late will of an ended life", CUR, Life(B, (1, 2, 5), 50, ended=True), Report(B, (1, 2, WILL_ORDER), False),
     Judgement.STALE),
    ("a late birth of an ended life, same connection", CUR, Life(B, (1, 2, 5), 50, ended=True),
     Report(B, (1, 2, 6), True), Judgement.STALE),
    ("an ended life online on a newer connection", CUR, Life(B, (1, 2, 5), 50, ended=True),
     Report(B, (1, 3, 1), True), Judgement.TWIN),
    ("a refused life", CUR, Life(B, (1, 2, 5), 50, ended=True, refused=True), Report(B, (1, 9, 1), True),
     Judgement.STALE),
]


@pytest.mark.parametrize(("name", "current", "known", "report", "expected"), CASES, ids=[c[0] for c in CASES])
def test_judge(name: str, current: Life | None, known: Life | None, report: Report, expected: Judgement) -> None:
    assert judge(current, known, report) is expected


STATUS = topics.uplink("site-a", "box-a", "status")
VERDICT = topics.uplink("site-a", "box-a", "verdict")


def _send(c: object, collector: Collector, topic: str, payload: bytes, count: list[int]) -> None:
    mqtt.publish(c, topic, payload)  # type: ignore[arg-type]
    count[0] += 1
    mqtt.wait_until(lambda: collector.handled == count[0], what=f"message {count[0]}")


def test_a_lost_outbox_shows_what_it_never_delivered(broker: Broker, collector: Collector) -> None:
    sent = [0]
    with mqtt.client(broker) as c:
        for seq in (1, 2, 3, 5):
            _send(c, collector, VERDICT, signing.sign(KEY, verdict(seq=seq, epoch=A)), sent)
        _send(c, collector, STATUS, signing.sign(KEY, status(epoch=A, last_seq=8)), sent)
        # the box comes back with an empty outbox: a new life, numbering from 1 again
        _send(c, collector, STATUS, signing.sign(KEY, status(epoch=B, boot=1)), sent)
        for seq in (1, 2):
            _send(c, collector, VERDICT, signing.sign(KEY, verdict(seq=seq, epoch=B)), sent)
    (box,) = queries.fleet(collector.store.engine, timedelta(minutes=3), WHOLE)
    assert box["epoch"] == B and box["online"] and box["missing"] == 0
    assert [(life["epoch"], life["count"]) for life in box["lost"]] == [(A, 4)]
    assert queries.gaps(collector.store.engine, "box-a", WHOLE, ended=True) == [(4, 4), (6, 8)]
    assert collector.store.counts()["duplicates"] == 0  # seq 1 and 2 of the new life are new verdicts
    with mqtt.client(broker) as c:  # the box remembered (beside its outbox) that life A had got to 10
        _send(c, collector, STATUS, signing.sign(KEY, status(epoch=B, order=5, lost_lives=[
            LostLife(epoch=A, last_seq=10)])), sent)
    (box,) = queries.fleet(collector.store.engine, timedelta(minutes=3), WHOLE)
    assert [(life["epoch"], life["count"]) for life in box["lost"]] == [(A, 6)]
    assert queries.gaps(collector.store.engine, "box-a", WHOLE, ended=True) == [(4, 4), (6, 10)]


def test_two_boxes_with_one_identity_are_detected_and_the_second_refused(
    broker: Broker, collector: Collector, tmp_path: Path
) -> None:
    sent = [0]
    conflict_topic = topics.downlink("site-a", "box-a", "conflict")
    with mqtt.client(broker) as c:
        _send(c, collector, STATUS, signing.sign(KEY, status(epoch=A, connection=1)), sent)
        _send(c, collector, STATUS, signing.sign(KEY, status(epoch=B, connection=1)), sent)  # twin B takes over
        # a lost outbox?
        assert queries.fleet(collector.store.engine, timedelta(minutes=3), WHOLE)[0]["conflict"] is None
        _send(c, collector, STATUS, signing.sign(KEY, status(epoch=A, connection=2, order=2)), sent)  # A is back
        _send(c, collector, VERDICT, signing.sign(KEY, flagged(1, epoch=B)), sent)  # B's verdicts still count
        _send(c, collector, STATUS, signing.sign(KEY, status(epoch=B, connection=2, order=2)), sent)  # refused
    with mqtt.collect(broker, conflict_topic) as got:  # retained: the refused box hears it on every connect
        message = got.get(timeout=5)
    conflict = signing.opened(DOWNLINK_KEY.public_key(), message.payload, IdentityConflict)
    assert (conflict.refused, conflict.kept) == (B, A)
    (box,) = queries.fleet(collector.store.engine, timedelta(minutes=3), WHOLE)
    assert box["epoch"] == A and box["conflict"]["refused"] == B
    assert collector.store.counts()["stored"] == 1

    # box A was given its own identity; the office lifts the refusal and B, restarted, is the box-a now
    config = tmp_path / "central.yaml"
    config.write_text(yaml.safe_dump({"database_url": collector.store.url, "mqtt": {"port": broker.port}}))
    done = CliRunner().invoke(app, ["central", "--config", str(config), "clear-conflict", "box-a"])
    assert done.exit_code == 0, done.output
    with mqtt.client(broker) as c:
        _send(c, collector, STATUS, signing.sign(KEY, status(epoch=B, boot=2, connection=1, order=1)), sent)
    (box,) = queries.fleet(collector.store.engine, timedelta(minutes=3), WHOLE)
    assert box["epoch"] == B and box["conflict"] is None and box["online"]
    with mqtt.collect(broker, conflict_topic) as got, pytest.raises(queue.Empty):  # the retained notice is gone
        got.get(timeout=1)


def test_a_pass_verdict_with_an_identity_or_an_unmasked_id_is_dead_lettered_without_it(
    broker: Broker, collector: Collector
) -> None:
    red = flagged(1)
    identity = red.inputs.person.identity
    assert identity is not None
    passing = red.model_copy(update={"decision": Decision.PASS})
    unmasked = verdict(seq=2, inputs=verdict().inputs.model_copy(update={
        "person": verdict().inputs.person.model_copy(update={"id_masked": identity.id_number})}))
    with mqtt.client(broker) as c:
        mqtt.publish(c, VERDICT, signing.sign(KEY, passing))
        mqtt.publish(c, VERDICT, signing.sign(KEY, unmasked))
        mqtt.wait_until(lambda: collector.handled == 2, what="both verdicts")
    dead = collector.store.dead_letters()
    assert collector.store.counts()["stored"] == 0
    assert sorted(d["reason"].split(";")[0] for d in dead) == [
        "privacy: `id_masked` is not masked (at most the first 3 and last 4 characters may show)",
        "privacy: a verdict that passed carries a full identity (only flagged verdicts may)",
    ]
    for d in dead:
        assert identity.id_number not in bytes(d["payload"]).decode() and identity.name not in json.loads(
            bytes(d["payload"]))["inputs"]["person"].get("identity", {}).get("name", "")

"""agent.update: the switch to an installed release waits for the policy's update hours and for no
passage open, and gives way to a newer update downlink."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.config import AgentSettings
from agent.policy import DEFAULT_POLICY, Policy
from agent.update import Progress, Updater
from contract.messages import UpdatePush
from tests.factories import CENTRAL_KEY
from tests.mqtt import wait_until
from tests.updates.conftest import RELEASE_PUBLIC


def test_the_switch_waits_for_the_update_hours_and_for_the_passage_to_end(tmp_path: Path) -> None:
    settings = AgentSettings.model_validate({
        "site": "site-a", "device": "box-a", "signing_key": {"hex": "11" * 32}, "pseudonym_key": {"hex": "22" * 32},
        "central_key": {"hex": CENTRAL_KEY}, "state_dir": str(tmp_path / "state"),
        "update": {"central_url": "https://central.invalid", "release_key": {"hex": RELEASE_PUBLIC},
                   "root": str(tmp_path / "opt")},
    })
    later = (datetime.now() + timedelta(hours=2)).strftime("%H:00")
    end = (datetime.now() + timedelta(hours=3)).strftime("%H:00")
    policies = [Policy.from_yaml(DEFAULT_POLICY).model_copy(update={"update_hours": (f"{later}-{end}",)})]
    passage = threading.Event()
    asked: list[bool] = []

    def passage_open() -> bool:
        asked.append(passage.is_set())
        return passage.is_set()

    updater = Updater(settings, passage_open, lambda: policies[-1], lambda: None)
    updater.layout.root.mkdir()
    push = UpdatePush(version="2.0", manifest_sha256="0" * 64, issued_at=datetime.now(UTC))
    updater.offer(push)
    stop = threading.Event()
    waiting = threading.Thread(target=updater.switch_when_quiet, args=(push, stop, 0.01))
    waiting.start()
    try:
        wait_until(lambda: len(asked) >= 3, what="the updater to look three times outside the update hours")
        assert not updater.layout.request.exists() and updater.report.state is Progress.WAITING
        passage.set()
        policies.append(Policy.from_yaml(DEFAULT_POLICY))  # no update hours: any time
        seen = len(asked)
        wait_until(lambda: asked[seen:].count(True) >= 3, what="three looks while a passage is open")
        assert not updater.layout.request.exists()
        passage.clear()
        # the request is written, then the report says so: wait for both (a thread apart from the test's)
        wait_until(lambda: updater.layout.request.exists() and updater.report.state is Progress.SWITCHING,
                   what="the switch asked for")
        assert updater.layout.request.read_text() == "2.0"
    finally:
        stop.set()
        waiting.join(10)


def test_a_newer_update_downlink_replaces_the_one_waiting(tmp_path: Path) -> None:
    settings = AgentSettings.model_validate({
        "site": "site-a", "device": "box-a", "signing_key": {"hex": "11" * 32}, "pseudonym_key": {"hex": "22" * 32},
        "central_key": {"hex": CENTRAL_KEY},
        "update": {"central_url": "https://central.invalid", "release_key": {"hex": RELEASE_PUBLIC},
                   "root": str(tmp_path / "opt")},
    })
    updater = Updater(settings, lambda: True, lambda: Policy.from_yaml(DEFAULT_POLICY), lambda: None)
    first = UpdatePush(version="2.0", manifest_sha256="0" * 64, issued_at=datetime.now(UTC))
    updater.offer(first)
    updater.offer(first.model_copy(update={"version": "2.1"}))
    updater.switch_when_quiet(first, threading.Event(), 0.01)  # returns: it is no longer the one offered
    assert not updater.layout.request.exists()

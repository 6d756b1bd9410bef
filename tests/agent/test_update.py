"""agent.update: the switch to an installed release waits for the policy's update hours and for no
passage open, and gives way to a newer update downlink; a download that fails on the way is tried
again, one refused is not."""

from __future__ import annotations

import hashlib
import platform
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent import update
from agent.config import AgentSettings
from agent.policy import DEFAULT_POLICY, Policy
from agent.update import FetchFailed, Progress, Updater
from contract import signing
from contract.messages import UpdatePush
from contract.release import MANIFEST, Manifest, ReleaseFile
from tests.factories import CENTRAL_KEY
from tests.mqtt import wait_until
from tests.updates.conftest import RELEASE_KEY, RELEASE_PUBLIC


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


class FlakyCentral:
    """Central's release download as a box meets it on a poor line: `plan` says what each request gets in
    turn ("busy": 503, "cut": half the body then the connection closed, "missing": 404, "ok")."""

    def __init__(self, release: dict[str, bytes], plan: list[str]) -> None:
        self.release, self.plan, self.seen = release, plan, []
        central = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                what = central.plan.pop(0) if central.plan else "ok"
                central.seen.append(what)
                body = central.release.get(self.path.rsplit("/", 1)[-1])
                if what == "busy" or what == "missing" or body is None:
                    self.send_error(503 if what == "busy" else 404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body if what == "ok" else body[: len(body) // 2])
                if what == "cut":
                    self.close_connection = True

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def a_release() -> tuple[dict[str, bytes], UpdatePush]:
    wheel = "checkpoint_station-9.9.9-py3-none-any.whl"
    data = bytes(range(256)) * 200
    manifest = Manifest(version="9.9.9", platform=platform.machine(), python="{}.{}".format(*sys.version_info),
                        built_at=datetime.now(UTC), project=wheel,
                        files=[ReleaseFile(name=wheel, sha256=hashlib.sha256(data).hexdigest(), size=len(data))])
    raw = signing.seal(RELEASE_KEY, manifest)
    push = UpdatePush(version="9.9.9", manifest_sha256=hashlib.sha256(raw).hexdigest(), issued_at=datetime.now(UTC))
    return {MANIFEST: raw, wheel: data}, push


def fetching_updater(tmp_path: Path, central: FlakyCentral, reports: list[Any]) -> Updater:
    settings = AgentSettings.model_validate({
        "site": "site-a", "device": "box-a", "signing_key": {"hex": "11" * 32}, "pseudonym_key": {"hex": "22" * 32},
        "central_key": {"hex": CENTRAL_KEY},
        "update": {"central_url": central.url, "release_key": {"hex": RELEASE_PUBLIC}, "root": str(tmp_path / "opt")},
    })
    updater = Updater(settings, lambda: False, lambda: Policy.from_yaml(DEFAULT_POLICY),
                      lambda: reports.append(updater.report))
    updater.layout.root.mkdir()
    return updater


def test_a_download_cut_or_refused_on_the_way_is_tried_again_until_the_release_is_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A box on a poor line: central busy, then the wheel's download cut halfway; the box tries again
    (it once gave up at the first failure and stayed on its release until a new downlink came)."""
    monkeypatch.setattr(update, "FETCH_RETRY_FIRST_S", 0.05)
    release, push = a_release()
    central = FlakyCentral(release, ["busy", "ok", "cut", "ok", "ok"])
    reports: list[Any] = []
    updater = fetching_updater(tmp_path, central, reports)
    updater.offer(push)
    try:
        manifest = updater._fetch_whole(push, threading.Event())
    finally:
        central.close()
    assert manifest is not None and manifest.version == "9.9.9"
    assert central.seen == ["busy", "ok", "cut", "ok", "ok"]
    retries = [r.reason for r in reports if r.state is Progress.FETCHING and r.reason]
    assert len(retries) == 2 and "503" in retries[0] and "unreachable" in retries[1]
    assert all("trying again" in reason for reason in retries)
    assert (updater.layout.downloads / "9.9.9" / manifest.project).read_bytes() == release[manifest.project]


def test_a_release_central_does_not_have_is_refused_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(update, "FETCH_RETRY_FIRST_S", 0.05)
    release, push = a_release()
    central = FlakyCentral(release, ["missing"])
    updater = fetching_updater(tmp_path, central, [])
    updater.offer(push)
    try:
        with pytest.raises(FetchFailed, match="404"):
            updater._fetch_whole(push, threading.Event())
    finally:
        central.close()
    assert central.seen == ["missing"]

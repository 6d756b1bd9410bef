"""The demo's wall page server hands out the wall page and nothing else: not the work folder beside
it (the boxes' keys, central's database with password hashes), and only to requests addressed to
loopback (DNS rebinding)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from checkpoint.demo import Demo


@pytest.fixture
def wall(tmp_path: Path) -> Iterator[tuple[Demo, str]]:
    demo = Demo(tmp_path / "demo", agents=2)
    demo.prepare()
    url = demo.serve_wall()
    yield demo, url
    demo.close_wall()


def test_the_wall_server_serves_the_wall_only(wall: tuple[Demo, str]) -> None:
    demo, url = wall
    page = httpx.get(url)
    assert page.status_code == 200 and page.text.count("<iframe") == 3
    base = url.rsplit("/", 1)[0]
    assert (demo.workdir / "central" / "central.sqlite").exists()
    for path in ("/central/central.sqlite", "/central/central.yaml", "/box-1/agent.yaml", "/logs/",
                 "/../demo/central/central.yaml", "/%2e%2e/central/central.sqlite", "/box-1/"):
        answer = httpx.get(base + path)
        assert answer.status_code == 404, (path, answer.status_code)
        assert b"SQLite" not in answer.content and b"signing_key" not in answer.content


def test_the_wall_server_answers_only_to_loopback_names(wall: tuple[Demo, str]) -> None:
    _demo, url = wall
    port = url.split(":")[2].split("/")[0]
    assert httpx.get(url, headers={"Host": f"localhost:{port}"}).status_code == 200
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
        answer = httpx.get(url, headers={"Host": host})
        assert answer.status_code == 421 and b"iframe" not in answer.content, host

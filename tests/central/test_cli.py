"""`checkpoint central ...`: the office's administration from the command line."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from central import queries
from central.auth import Accounts
from central.regions import WHOLE
from central.store import Store
from checkpoint.cli import app

RUNNER = CliRunner()


def _config(tmp_path: Path) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'central.sqlite'}"
    config = tmp_path / "central.yaml"
    config.write_text(yaml.safe_dump({"database_url": url}))
    return config, url


def test_users_and_devices_from_the_command_line(tmp_path: Path) -> None:
    config, url = _config(tmp_path)
    central = ["central", "--config", str(config)]
    done = RUNNER.invoke(app, [*central, "user", "add", "zhou", "--role", "operator", "--password-stdin"],
                         input="a-long-password\n")
    assert done.exit_code == 0, done.output
    key = tmp_path / "box.key"
    key.write_text("ab" * 32 + "\n")
    done = RUNNER.invoke(app, [*central, "register-device", "box-9", "--site", "g312-k45", "--key-file", str(key)])
    assert done.exit_code == 0, done.output
    assert RUNNER.invoke(app, [*central, "revoke-device", "box-9"]).exit_code == 0
    again = RUNNER.invoke(app, [*central, "register-device", "box-9", "--site", "g312-k45", "--key-file", str(key)])
    assert again.exit_code == 2 and "new signing key" in again.output  # revoked stays revoked with its old key
    assert "zhou\toperator\tactive" in RUNNER.invoke(app, [*central, "user", "list"]).output
    store = Store(url)
    assert Accounts(store.engine).login("zhou", "a-long-password") is not None
    assert store.device_keys()["box-9"].revoked
    assert queries.sites(store.engine, WHOLE) == ["g312-k45"]
    store.dispose()


def test_mistakes_are_one_clear_line_and_status_2(tmp_path: Path) -> None:
    config, _url = _config(tmp_path)
    central = ["central", "--config", str(config)]
    cases = [
        ([*central, "user", "add", "wu", "--role", "boss", "--password-stdin"], "x" * 12 + "\n", "--role is"),
        ([*central, "user", "add", "wu", "--password-stdin"], "short\n", "10 characters"),
        ([*central, "user", "password", "nobody", "--password-stdin"], "a-long-password\n", "no user"),
        ([*central, "register-device", "box-1", "--site", "s"], "not-hex\n", "64 hex digits"),
        ([*central, "revoke-device", "box-404"], "", "no device"),
        (["central", "--config", str(tmp_path / "missing.yaml"), "migrate"], "", "no such file"),
    ]
    for args, stdin, message in cases:
        done = RUNNER.invoke(app, args, input=stdin)
        assert done.exit_code == 2, (args, done.output)
        assert message in done.output, (args, done.output)

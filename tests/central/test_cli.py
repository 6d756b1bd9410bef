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


def test_the_region_tree_from_the_command_line(tmp_path: Path) -> None:
    config, _url = _config(tmp_path)
    central = ["central", "--config", str(config)]
    done = RUNNER.invoke(app, [*central, "regions", "import", "--sample"])
    assert done.exit_code == 0 and "15 added" in done.output, done.output
    bad = tmp_path / "tree.csv"
    bad.write_text("代码,名称,上级代码\n390102004,新村镇,390102\n4201,外省市,39\n390102009001,新村,390102009\n")
    refused = RUNNER.invoke(app, [*central, "regions", "import", str(bad)])
    assert refused.exit_code == 2
    assert "line 3: 4201 (city) does not begin with its parent's code 39" in refused.output
    assert "line 4: parent 390102009: neither in the file nor in the tree" in refused.output
    assert "2 bad lines: nothing imported" in refused.output
    assert RUNNER.invoke(app, [*central, "regions", "place", "g312-k45", "390102001"]).exit_code == 0
    added = RUNNER.invoke(app, [*central, "user", "add", "town", "--region", "390102001", "--password-stdin"],
                          input="a-long-password\n")
    assert added.exit_code == 0, added.output
    listed = RUNNER.invoke(app, [*central, "regions", "list"]).output
    assert "      390102\t东湖县\n" in listed and "390102001\t新华街道  [g312-k45]" in listed
    assert "390102004" not in listed  # nothing of the bad file
    assert "town\tviewer\tactive\t390102001" in RUNNER.invoke(app, [*central, "user", "list"]).output
    nowhere = RUNNER.invoke(app, [*central, "user", "region", "town", "999999"])
    assert nowhere.exit_code == 2 and "no region '999999'" in nowhere.output

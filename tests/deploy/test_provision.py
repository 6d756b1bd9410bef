"""`checkpoint provision`: bundles, file modes, re-runs, rotation, revocation, central's registry."""

from __future__ import annotations

import stat
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.config import AgentSettings
from central.config import CentralSettings
from central.store import Store
from checkpoint.cli import app
from checkpoint.provision import acl, actions, passwords
from checkpoint.provision.deployment import BoxRecord, Deployment, Login, Registry
from common import device_names
from common import settings as settings_file
from common.settings import ConfigError
from contract.messages import CheckpointKind
from tests.deploy.conftest import install_bundle


def registered(deployment: Deployment) -> dict[str, tuple[str, bool]]:
    store = Store(deployment.settings().central_database_url)
    try:
        return {d: (k.key.hex(), k.revoked) for d, k in store.device_keys().items()}
    finally:
        store.dispose()


def test_a_password_box_gets_a_bundle_the_agent_accepts(deployment: Deployment) -> None:
    outcome = actions.provision(deployment, "box-1", "site-1", CheckpointKind.COMMUNITY, Login.PASSWORD)
    bundle = deployment.bundle_dir("box-1")
    assert sorted(p.name for p in bundle.iterdir()) == [
        "agent.yaml", "ca.crt", "central.pub", "pseudonym.key", "release.pub", "signing.key"]
    for path in [*bundle.iterdir(), outcome.bundle]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path  # type: ignore[union-attr]
    with tarfile.open(outcome.bundle) as tar:  # type: ignore[arg-type]
        assert sorted(tar.getnames()) == ["box-1", *sorted(f"box-1/{p.name}" for p in bundle.iterdir())]
    box = settings_file.load(AgentSettings, install_bundle(deployment, "box-1"))
    assert (box.site, box.device, box.kind) == ("site-1", "box-1", CheckpointKind.COMMUNITY)
    assert box.mqtt.username == "box-1" and box.mqtt.tls_ca is not None and box.mqtt.tls_ca.exists()
    assert box.mqtt.port == deployment.settings().broker.port
    assert len(box.signing_key.value()) == 32 and len(box.pseudonym_key.value()) == 32
    central = settings_file.load(CentralSettings, deployment.central_config)  # signs what the box obeys
    assert central.downlink_signer().public_key().public_bytes_raw() == box.central_key.value()
    release_key = deployment.release_key.read_text().strip()  # signs releases; central and boxes check them
    assert (deployment.bundle_dir("box-1") / "release.pub").read_text().strip() == deployment.release_public_key()
    assert central.release_key().public_bytes_raw().hex() == deployment.release_public_key() != release_key
    assert registered(deployment) == {"box-1": (box.signing_key.value().hex(), False)}
    assert box.idcard is None  # a community checkpoint reads no ID cards
    assert box.thermo is not None and (box.thermo.port, box.thermo.protocol) == (device_names.THERMO, "gy-mcu")
    assert box.camera is not None and box.camera.source == device_names.CAMERA
    assert "box-1" in passwords.users(deployment.broker_dir / "passwd")


def test_a_certificate_box_logs_in_on_the_certificate_port_without_a_password(deployment: Deployment) -> None:
    actions.provision(deployment, "box-2", "site-1", CheckpointKind.TRAFFIC, Login.CERTIFICATE,
                      thermo_protocol="aa-a5")
    box = settings_file.load(AgentSettings, install_bundle(deployment, "box-2"))
    assert box.idcard is not None and box.idcard.port == device_names.IDCARD
    assert box.thermo is not None and box.thermo.protocol == "aa-a5"
    assert box.mqtt.port == deployment.settings().broker.cert_port
    assert box.mqtt.username is None and box.mqtt.password is None
    assert box.mqtt.tls_cert is not None and box.mqtt.tls_cert.exists()
    assert "box-2" not in passwords.users(deployment.broker_dir / "passwd")


def test_running_it_again_keeps_the_keys_and_rotate_replaces_them(deployment: Deployment) -> None:
    def keys() -> tuple[str, str]:
        keep = deployment.box_dir("box-1")
        return (keep / "signing.key").read_text(), (keep / "mqtt.password").read_text()

    actions.provision(deployment, "box-1", "site-1", CheckpointKind.TRAFFIC, Login.PASSWORD)
    first = keys()
    actions.provision(deployment, "box-1", "site-1", CheckpointKind.TRAFFIC, Login.PASSWORD)
    assert keys() == first
    actions.provision(deployment, "box-1", "site-1", CheckpointKind.TRAFFIC, Login.PASSWORD, rotate=True)
    rotated = keys()
    assert rotated[0] != first[0] and rotated[1] != first[1]
    assert registered(deployment)["box-1"][0] == rotated[0].strip()


def test_init_again_keeps_the_ca_and_central_account(deployment: Deployment) -> None:
    ca = (deployment.ca_dir / "ca.crt").read_bytes()
    central = deployment.central_config.read_text()
    actions.init(deployment, deployment.settings())
    assert (deployment.ca_dir / "ca.crt").read_bytes() == ca
    assert deployment.central_config.read_text() == central


def test_revoke_reaches_central_the_acl_and_the_password_file(deployment: Deployment) -> None:
    actions.provision(deployment, "box-1", "site-1", CheckpointKind.TRAFFIC, Login.PASSWORD)
    actions.provision(deployment, "box-2", "site-1", CheckpointKind.TRAFFIC, Login.CERTIFICATE)
    actions.revoke(deployment, "box-1")
    actions.revoke(deployment, "box-2")
    actions.revoke(deployment, "box-2")  # again: nothing changes, nothing fails
    assert {d: r for d, (_, r) in registered(deployment).items()} == {"box-1": True, "box-2": True}
    assert "box-1" not in passwords.users(deployment.broker_dir / "passwd")
    assert "user box-" not in (deployment.broker_dir / "acl").read_text()
    with pytest.raises(ConfigError, match="--rotate"):
        actions.provision(deployment, "box-1", "site-1", CheckpointKind.TRAFFIC, Login.PASSWORD)
    actions.provision(deployment, "box-1", "site-1", CheckpointKind.TRAFFIC, Login.PASSWORD, rotate=True)
    assert registered(deployment)["box-1"][1] is False


def test_the_acl_grants_each_box_its_own_topics_only() -> None:
    registry = Registry(boxes={
        "box-1": BoxRecord(site="site-1", kind=CheckpointKind.TRAFFIC, login=Login.PASSWORD),
        "box-9": BoxRecord(site="site-9", kind=CheckpointKind.TRAFFIC, login=Login.PASSWORD, revoked=True),
    })
    blocks = acl.render(registry).split("\n\n")
    assert blocks[1].splitlines() == [
        "user box-1",
        "topic write checkpoint/v1/site-1/box-1/verdict",
        "topic write checkpoint/v1/site-1/box-1/status",
        "topic write checkpoint/v1/site-1/box-1/metrics",
        "topic write checkpoint/v1/site-1/box-1/diagnostics",
        "topic read checkpoint/v1/site-1/box-1/down/#",
        "topic read checkpoint/v1/all/down/#",
    ]
    assert "box-9" not in acl.render(registry)
    assert blocks[0].splitlines()[1:] == [
        "user central",
        "topic read checkpoint/v1/+/+/verdict",
        "topic read checkpoint/v1/+/+/status",
        "topic read checkpoint/v1/+/+/metrics",
        "topic read checkpoint/v1/+/+/diagnostics",
        "topic write checkpoint/v1/+/+/down/#",
        "topic write checkpoint/v1/all/down/#",
    ]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["provision", *args])
    return result.exit_code, result.output


def test_the_command_line(deployment: Deployment, tmp_path: Path) -> None:
    d = ["--deployment", str(deployment.dir)]
    code, out = run(*d, "--device", "box-7", "--site", "site-7", "--kind", "community", "--login", "certificate")
    assert code == 0, out
    assert "box box-7 (site-7, community, certificate login) provisioned" in out
    code, out = run(*d, "list")
    assert code == 0 and "box-7" in out and "active" in out
    assert run(*d, "revoke", "box-7")[0] == 0
    assert "revoked" in run(*d, "list")[1]
    for bad in (["--device", "Box 7", "--site", "s"], ["--device", "central", "--site", "s"],
                ["--device", "box-8"], ["--device", "box-8", "--site", "s", "--login", "psk"], ["revoke", "nobody"],
                ["--device", "box-8", "--site", "s", "--thermo-protocol", "infrared-magic"]):
        code, out = run(*d, *bad)
        assert code == 2, (bad, out)
    assert run("--deployment", str(tmp_path / "none"), "--device", "b", "--site", "s")[0] == 2


def test_a_failed_reload_is_reported_and_exits_non_zero(deployment: Deployment) -> None:
    config = deployment.settings()
    config.broker.reload = ["false"]
    deployment.save_settings(config)
    code, out = run("--deployment", str(deployment.dir), "--device", "box-1", "--site", "site-1")
    assert code == 1 and "NOT taken this change" in out
    assert registered(deployment)["box-1"][1] is False  # everything else was done


def test_an_unreachable_central_database_is_one_clear_error(deployment: Deployment) -> None:
    config = deployment.settings()
    config.central_database_url = "postgresql://checkpoint:secret-pw@127.0.0.1:1/checkpoint"
    deployment.save_settings(config)
    code, out = run("--deployment", str(deployment.dir), "--device", "box-1", "--site", "site-1")
    assert code == 2 and "central's database" in out and "run again" in out
    assert "secret-pw" not in out

"""A box's bundle: its agent.yaml and secret files, as a directory and as one tarball.

The agent.yaml names every file by where the bundle will be on the box (`box_install_dir`,
/etc/checkpoint by default), so the box installs the bundle there and runs
`checkpoint agent --config /etc/checkpoint/agent.yaml`. Every file is mode 0600.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from agent.config import render as agent_yaml
from checkpoint.provision.deployment import BoxRecord, DeploymentSettings, Login
from checkpoint.provision.files import write_private
from common import device_names
from common.private import private_dir
from contract.messages import CheckpointKind


@dataclass(frozen=True)
class BoxSecrets:
    signing_key_hex: str
    pseudonym_key_hex: str
    central_key_hex: str  # public: checks central's signature on everything the box receives
    release_key_hex: str  # public: checks the deployer's signature on a release before it is installed
    ca_cert: bytes  # the deployment CA's certificate: the box checks the broker with it
    password: str | None = None
    client_cert: bytes | None = None
    client_key: bytes | None = None


def agent_config(
    device: str, box: BoxRecord, settings: DeploymentSettings, password: str | None = None
) -> dict[str, object]:
    """The box's agent.yaml, with every file where the bundle will be on the box."""
    broker, install_dir = settings.broker, settings.box_install_dir
    mqtt: dict[str, object] = {"host": broker.host, "tls_ca": str(install_dir / "ca.crt")}
    if box.login is Login.PASSWORD:
        mqtt.update(port=broker.port, username=device, password=password)
    else:
        mqtt.update(
            port=broker.cert_port, tls_cert=str(install_dir / "client.crt"), tls_key=str(install_dir / "client.key")
        )
    data = settings.box_data_dir
    config: dict[str, object] = {
        "site": box.site,
        "device": device,
        "kind": box.kind.value,
        "signing_key": {"file": str(install_dir / "signing.key")},
        "pseudonym_key": {"file": str(install_dir / "pseudonym.key")},
        "central_key": {"file": str(install_dir / "central.pub")},
        "mqtt": mqtt,
        "outbox": {"path": str(data / "outbox.sqlite")},
        "state_dir": str(data / "state"),
    }
    # the devices, by the names the udev rules give them (a community checkpoint reads no ID cards)
    if box.kind is CheckpointKind.TRAFFIC:
        config["idcard"] = {"port": device_names.IDCARD}
    config["thermo"] = {"port": device_names.THERMO, "protocol": box.thermo_protocol}
    config["camera"] = {"source": device_names.CAMERA}
    if settings.dashboard_url:  # updates come from central's HTTPS API, by the name the office uses
        config["update"] = {"central_url": settings.dashboard_url, "tls_ca": str(install_dir / "ca.crt"),
                            "release_key": {"file": str(install_dir / "release.pub")}}
    return config


def write(out: Path, device: str, box: BoxRecord, settings: DeploymentSettings, secrets: BoxSecrets) -> Path:
    """Write the bundle directory `out` (replaced whole) and `out`.tar.gz; returns the tarball."""
    config = agent_config(device, box, settings, secrets.password)
    if out.exists():
        shutil.rmtree(out)
    private_dir(out)
    files = {
        "agent.yaml": agent_yaml(config).encode(),  # the agent's own builder: it must accept what we hand it
        "signing.key": (secrets.signing_key_hex + "\n").encode(),
        "pseudonym.key": (secrets.pseudonym_key_hex + "\n").encode(),
        "central.pub": (secrets.central_key_hex + "\n").encode(),
        "release.pub": (secrets.release_key_hex + "\n").encode(),
        "ca.crt": secrets.ca_cert,
    }
    if secrets.client_cert is not None and secrets.client_key is not None:
        files.update({"client.crt": secrets.client_cert, "client.key": secrets.client_key})
    for name, data in files.items():
        write_private(out / name, data)
    tarball = out.with_name(out.name + ".tar.gz")
    tmp = tarball.with_name(tarball.name + ".tmp")
    tmp.unlink(missing_ok=True)
    raw = os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
    with raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        tar.add(out, arcname=device)
    tmp.replace(tarball)
    return tarball

"""A deployment in tmp_path with free ports, and its broker running the production configuration."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from checkpoint.broker import free_port
from checkpoint.provision import actions
from checkpoint.provision.deployment import BrokerSettings, Deployment, DeploymentSettings
from checkpoint.provision.trial_broker import TrialBroker


def make_deployment(root: Path, install_dir: Path | None = None) -> Deployment:
    """`checkpoint provision init` for this machine: loopback, free ports, files under `root`."""
    deployment = Deployment(root / "deployment")
    settings = DeploymentSettings(
        broker=BrokerSettings(
            host="127.0.0.1",
            port=free_port(),
            cert_port=free_port(),
            reload=[],
            data_dir=root / "broker" / "data",
            log_file=root / "broker" / "mosquitto.log",
        ),
        central_database_url=f"sqlite:///{root / 'central' / 'central.sqlite'}",
        box_install_dir=install_dir or root / "box" / "etc",
        box_data_dir=root / "box" / "var",
    )
    actions.init(deployment, settings)
    return deployment


def follow_reloads(deployment: Deployment, broker: TrialBroker) -> None:
    """Point deployment.yaml's broker.reload at this broker process (SIGHUP)."""
    settings = deployment.settings()
    settings.broker.reload = broker.reload_command
    deployment.save_settings(settings)


def install_bundle(deployment: Deployment, device: str) -> Path:
    """What deploy/pi/install.sh does with a bundle: its files in the box's install directory."""
    target = deployment.settings().box_install_dir
    shutil.copytree(deployment.bundle_dir(device), target, dirs_exist_ok=True)
    return target / "agent.yaml"


@contextmanager
def reachable_dir() -> Iterator[Path]:
    """A scratch directory other users may pass through. Mosquitto started as root drops to the
    `mosquitto` user, which cannot enter pytest's private tmp_path."""
    root = Path(tempfile.mkdtemp(prefix="checkpoint-deploy-"))
    root.chmod(0o711)
    try:
        yield root
    finally:
        shutil.rmtree(root)


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    with reachable_dir() as root:
        yield make_deployment(root)


@pytest.fixture
def trial_broker(deployment: Deployment) -> Iterator[TrialBroker]:
    broker = TrialBroker.of(deployment).start()
    follow_reloads(deployment, broker)
    yield broker
    broker.stop()

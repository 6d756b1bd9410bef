"""A deployment directory: the settings, the CA, the broker's files, the boxes' kept secrets.

    <deployment>/deployment.yaml    DeploymentSettings (written by `checkpoint provision init`)
    <deployment>/boxes.yaml         the registry: every box ever provisioned, revoked or not
    <deployment>/pseudonym.key      the deployment-wide key of the traveller pseudonyms
    <deployment>/release.key        signs releases of the box software (never leaves this directory)
    <deployment>/ca/                the certificate authority (ca.key never leaves this directory)
    <deployment>/broker/            what Mosquitto reads: mosquitto.conf, passwd, acl, certificates, CRL
    <deployment>/central/           central.yaml: central's settings with its own broker account, and
                                    downlink.key, which signs what central sends the boxes, and
                                    release.pub, which checks the releases central takes in
    <deployment>/boxes/<device>/    each box's kept secrets, so that a re-run gives the same bundle
    <deployment>/bundles/<device>/  what is installed on the box (and <device>.tar.gz)

It lives on the machine that provisions (central's, usually) and is backed up like a key store.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from checkpoint.provision.files import PRIVATE, write_file
from common.settings import ConfigError, describe, read_yaml
from contract import signing
from contract.messages import CheckpointKind, Name

DEFAULT_DIR = Path("/etc/checkpoint/deployment")
M = TypeVar("M", bound=BaseModel)
CENTRAL_USER = "central"  # central's broker account; no box may be called this


def checked_name(value: str, what: str) -> str:
    """A box or site id as the message contract allows it, or a ConfigError saying so."""
    try:
        return TypeAdapter(Name).validate_python(value)
    except ValidationError:
        raise ConfigError(f"{what} {value!r}: use 1-32 lower-case letters, digits and '-'") from None


class Login(StrEnum):
    PASSWORD = "password"
    CERTIFICATE = "certificate"


class BrokerSettings(BaseModel):
    host: str  # the name or address boxes reach the broker by; it goes into the server certificate
    port: int = Field(default=8883, ge=1, le=65535)  # TLS, password logins
    cert_port: int = Field(default=8884, ge=1, le=65535)  # TLS, client-certificate logins
    extra_names: list[str] = ["localhost", "127.0.0.1"]  # further names in the server certificate
    reload: list[str] = ["systemctl", "reload", "mosquitto"]  # makes the broker reread its files
    data_dir: Path = Path("/var/lib/mosquitto")
    log_file: Path = Path("/var/log/mosquitto/mosquitto.log")


class DeploymentSettings(BaseModel):
    broker: BrokerSettings
    central_database_url: str
    central_broker_host: str = "127.0.0.1"  # how central reaches the broker (usually the same machine)
    # how the office reaches the dashboard (through a reverse proxy); https:// makes cookies HTTPS-only
    dashboard_url: str = Field(default="", pattern=r"^(https?://\S+)?$")
    box_install_dir: Path = Path("/etc/checkpoint")  # where a bundle is unpacked on the box
    box_data_dir: Path = Path("/var/lib/checkpoint")  # the box's outbox and pushed settings

    @property
    def server_names(self) -> list[str]:
        """Every name the broker is reached by, for its certificate."""
        b = self.broker
        return list(dict.fromkeys([b.host, *b.extra_names, self.central_broker_host]))


class BoxRecord(BaseModel):
    site: Name
    kind: CheckpointKind
    login: Login
    thermo_protocol: str = "gy-mcu"  # a name in drivers.thermo.codecs.FAMILIES
    revoked: bool = False


class Registry(BaseModel):
    boxes: dict[Name, BoxRecord] = {}


class Deployment:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    @property
    def settings_path(self) -> Path:
        return self.dir / "deployment.yaml"

    @property
    def registry_path(self) -> Path:
        return self.dir / "boxes.yaml"

    @property
    def pseudonym_key(self) -> Path:
        return self.dir / "pseudonym.key"

    @property
    def downlink_key(self) -> Path:
        """Central's Ed25519 seed (hex): it signs receipts and pushes; boxes get its public half."""
        return self.dir / "central" / "downlink.key"

    @property
    def release_key(self) -> Path:
        """The deployment's release key (an Ed25519 seed in hex): `checkpoint release build` signs
        with it; central and the boxes hold only its public half."""
        return self.dir / "release.key"

    def release_public_key(self) -> str:
        return signing.private_key(self.release_key.read_text()).public_key().public_bytes_raw().hex()

    def central_public_key(self) -> str:
        return signing.private_key(self.downlink_key.read_text()).public_key().public_bytes_raw().hex()

    @property
    def ca_dir(self) -> Path:
        return self.dir / "ca"

    @property
    def broker_dir(self) -> Path:
        return self.dir / "broker"

    @property
    def central_config(self) -> Path:
        return self.dir / "central" / "central.yaml"

    def box_dir(self, device: str) -> Path:
        return self.dir / "boxes" / device

    def bundle_dir(self, device: str) -> Path:
        return self.dir / "bundles" / device

    def settings(self) -> DeploymentSettings:
        if not self.settings_path.exists():
            raise ConfigError(
                f"{self.dir}: not a deployment yet; create it with `checkpoint provision init --deployment {self.dir}`"
            )
        return _parse(DeploymentSettings, self.settings_path)

    def save_settings(self, settings: DeploymentSettings) -> None:
        _dump(self.settings_path, settings)

    def registry(self) -> Registry:
        return _parse(Registry, self.registry_path) if self.registry_path.exists() else Registry()

    def save_registry(self, registry: Registry) -> None:
        _dump(self.registry_path, registry)


def _parse(model: type[M], path: Path) -> M:
    try:
        return model.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe(exc)}") from None


def _dump(path: Path, model: BaseModel) -> None:
    text = yaml.safe_dump(model.model_dump(mode="json"), allow_unicode=True, sort_keys=False)
    write_file(path, text.encode(), PRIVATE)

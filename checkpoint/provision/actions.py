"""What a deployer does: set up a deployment, provision a box, revoke a box. Each is safe to re-run.

Every action first records its intent (deployment.yaml, boxes.yaml, the kept secrets), then brings
central and the broker in line with the record, so a run that failed half-way (central's database
away, the broker not reloaded) is completed by running it again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from central.store import StillRevoked, Store
from checkpoint.provision import bundle, passwords
from checkpoint.provision.broker_files import BrokerFiles
from checkpoint.provision.ca import CertificateAuthority
from checkpoint.provision.deployment import (
    CENTRAL_USER,
    BoxRecord,
    Deployment,
    DeploymentSettings,
    Login,
    Registry,
    checked_name,
)
from checkpoint.provision.files import write_private, write_public
from common.settings import ConfigError
from contract.messages import CheckpointKind
from drivers.thermo.codecs import FAMILIES


@dataclass(frozen=True)
class Outcome:
    """What an action did; `reload_error` says the broker has not yet taken the change."""

    summary: str
    bundle: Path | None = None
    reload_error: str | None = None


def init(deployment: Deployment, settings: DeploymentSettings) -> Outcome:
    """Create (or bring up to date) the CA, the broker's files and central's account."""
    deployment.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    deployment.dir.chmod(0o711)  # the broker's group must reach broker/; nothing else is listable
    deployment.save_settings(settings)
    ca = CertificateAuthority(deployment.ca_dir).ensure()
    _keep_hex(deployment.pseudonym_key, rotate=False)
    _keep_hex(deployment.downlink_key, rotate=False)  # an Ed25519 seed is 32 random bytes too
    _keep_hex(deployment.release_key, rotate=False)
    write_private(deployment.central_config.with_name("release.pub"), (deployment.release_public_key() + "\n").encode())
    files = BrokerFiles(deployment, settings)
    files.write_conf()
    files.ensure_server_cert(ca)
    files.publish_ca(ca)
    files.write_acl(deployment.registry())
    central_password = _central_password(deployment)
    passwords.set_password(files.passwd, CENTRAL_USER, central_password)
    central_ca = deployment.central_config.with_name("ca.crt")
    write_public(central_ca, ca.cert_path.read_bytes())  # central's own copy: broker/ is the broker's
    _write_central_config(deployment, settings, central_password, central_ca)
    with _store(settings):
        pass  # central's tables exist from now on
    files.share()
    return Outcome(
        f"deployment ready in {deployment.dir}; (re)start the broker with {files.conf}"
        " (a reload does not change listeners)"
    )


def provision(
    deployment: Deployment,
    device: str,
    site: str,
    kind: CheckpointKind,
    login: Login,
    *,
    thermo_protocol: str = "gy-mcu",
    rotate: bool = False,
) -> Outcome:
    settings = deployment.settings()
    device, site = checked_name(device, "box id"), checked_name(site, "site id")
    if thermo_protocol not in FAMILIES:
        raise ConfigError(f"unknown thermometer protocol {thermo_protocol!r}; known: {', '.join(FAMILIES)}")
    if device == CENTRAL_USER:
        raise ConfigError(f"`{CENTRAL_USER}` is central's broker account; choose another box id")
    registry = deployment.registry()
    previous = registry.boxes.get(device)
    if previous is not None and previous.revoked and not rotate:
        raise ConfigError(f"box {device} was revoked; give --rotate to provision it again with new keys")
    box = BoxRecord(site=site, kind=kind, login=login, thermo_protocol=thermo_protocol)
    registry.boxes[device] = box
    deployment.save_registry(registry)

    keep = deployment.box_dir(device)
    signing_hex = _keep_hex(keep / "signing.key", rotate)
    ca = CertificateAuthority(deployment.ca_dir)
    files = BrokerFiles(deployment, settings)
    secrets_ = bundle.BoxSecrets(
        signing_hex, deployment.pseudonym_key.read_text().strip(), deployment.central_public_key(),
        deployment.release_public_key(), ca.cert_path.read_bytes(),
    )
    if login is Login.PASSWORD:
        ca.revoke(device)  # a box moving from certificate to password keeps no valid certificate
        password = _keep_secret(keep / "mqtt.password", rotate, lambda: secrets.token_urlsafe(24))
        passwords.set_password(files.passwd, device, password)
        secrets_ = replace(secrets_, password=password)
    else:
        passwords.delete_user(files.passwd, device)
        if rotate or not (keep / "client.crt").exists():
            ca.revoke(device)
            key, cert = ca.issue(device)
            write_private(keep / "client.key", key)
            write_private(keep / "client.crt", cert)
        secrets_ = replace(
            secrets_, client_cert=(keep / "client.crt").read_bytes(), client_key=(keep / "client.key").read_bytes()
        )

    with _store(settings) as store:
        try:
            store.register_device(device, site, kind.value, signing_hex)
        except StillRevoked:
            raise ConfigError(f"central has box {device} as revoked; give --rotate to provision it again with new keys"
                              ) from None
    files.write_acl(registry)
    files.publish_ca(ca)
    files.share()
    tarball = bundle.write(deployment.bundle_dir(device), device, box, settings, secrets_)
    return Outcome(
        f"box {device} ({site}, {kind.value}, {login.value} login) provisioned",
        bundle=tarball,
        reload_error=files.reload(),
    )


def revoke(deployment: Deployment, device: str) -> Outcome:
    """Central refuses the box's verdicts; the broker refuses the box itself."""
    settings = deployment.settings()
    registry = deployment.registry()
    box = registry.boxes.get(device)
    if box is None:
        raise ConfigError(f"no box {device} in {deployment.registry_path}")
    registry.boxes[device] = box.model_copy(update={"revoked": True})
    deployment.save_registry(registry)
    with _store(settings) as store:
        known = store.revoke_device(device)
    ca = CertificateAuthority(deployment.ca_dir)
    files = BrokerFiles(deployment, settings)
    passwords.delete_user(files.passwd, device)
    ca.revoke(device)
    files.write_acl(registry)
    files.publish_ca(ca)
    files.share()
    note = "" if known else " (central had no record of it)"
    return Outcome(f"box {device} revoked{note}", reload_error=files.reload())


def boxes(deployment: Deployment) -> Registry:
    return deployment.registry()


@contextmanager
def _store(settings: DeploymentSettings) -> Iterator[Store]:
    """Central's database, migrated; a database that cannot be reached is one clear error."""
    store = Store(settings.central_database_url)
    try:
        store.migrate()
        yield store
    except SQLAlchemyError as exc:
        where = make_url(settings.central_database_url).render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigError(f"central's database {where}: {reason}; run again once it is reachable") from None
    finally:
        store.dispose()


def _keep_hex(path: Path, rotate: bool) -> str:
    """A 32-byte key as hex, created once and kept (new only with `rotate`)."""
    return _keep_secret(path, rotate, lambda: secrets.token_hex(32))


def _keep_secret(path: Path, rotate: bool, make: Callable[[], str]) -> str:
    if path.exists() and not rotate:
        return path.read_text().strip()
    value = make()
    write_private(path, (value + "\n").encode())
    return value


def _central_password(deployment: Deployment) -> str:
    return _keep_secret(deployment.dir / "central" / "mqtt.password", False, lambda: secrets.token_urlsafe(24))


def _write_central_config(deployment: Deployment, settings: DeploymentSettings, password: str, ca: Path) -> None:
    config: dict[str, object] = {
        "database_url": settings.central_database_url,
        "downlink_key_file": str(deployment.downlink_key),
        "release_key_file": str(deployment.central_config.with_name("release.pub")),
        "mqtt": {
            "host": settings.central_broker_host,
            "port": settings.broker.port,
            "username": CENTRAL_USER,
            "password": password,
            "tls_ca": str(ca),
        },
    }
    if settings.dashboard_url:
        https = settings.dashboard_url.startswith("https://")
        config["http"] = {"public_url": settings.dashboard_url, "secure_cookies": https}
    write_private(deployment.central_config, yaml.safe_dump(config, sort_keys=False).encode())

"""What the broker reads, kept in <deployment>/broker/: its configuration, certificates, CRL,
password file and ACL; and the reload that makes it reread them.

Mosquitto started as root drops to the `mosquitto` user, so these files are given to that group
(mode 0640, the directory 0750) where the group exists; the CA's key stays in ca/, readable by root.
"""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
from pathlib import Path

from checkpoint.provision import acl
from checkpoint.provision.ca import CertificateAuthority
from checkpoint.provision.deployment import Deployment, DeploymentSettings, Registry
from checkpoint.provision.files import SHARED, write_file

# deploy/mosquitto/mosquitto.conf, through a link that the wheel carries as a file (package data)
TEMPLATE = Path(__file__).with_name("mosquitto.conf")
BROKER_GROUP = "mosquitto"


class BrokerFiles:
    def __init__(self, deployment: Deployment, settings: DeploymentSettings) -> None:
        self.dir = deployment.broker_dir
        self.settings = settings

    @property
    def conf(self) -> Path:
        return self.dir / "mosquitto.conf"

    @property
    def passwd(self) -> Path:
        return self.dir / "passwd"

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    def write_conf(self, template: Path = TEMPLATE) -> None:
        b = self.settings.broker
        text = template.read_text().format(
            port=b.port, cert_port=b.cert_port, auth_dir=self.dir, data_dir=b.data_dir, log_file=b.log_file
        )
        self._write("mosquitto.conf", text.encode())

    def ensure_server_cert(self, ca: CertificateAuthority) -> None:
        """Issue the broker's certificate, again only when the names it must carry changed."""
        names = "\n".join(self.settings.server_names) + "\n"
        recorded = self.dir / "server.names"
        if (self.dir / "server.crt").exists() and recorded.exists() and recorded.read_text() == names:
            return
        key, cert = ca.issue(f"{self.settings.broker.host} (broker)", server_names=self.settings.server_names)
        self._write("server.key", key)
        self._write("server.crt", cert)
        self._write("server.names", names.encode())

    def publish_ca(self, ca: CertificateAuthority) -> None:
        """The CA certificate and the current CRL, where the broker reads them."""
        self._write("ca.crt", ca.cert_path.read_bytes())
        self._write("crl.pem", ca.crl_path.read_bytes())

    def write_acl(self, registry: Registry) -> None:
        self._write("acl", acl.render(registry).encode())

    def share(self) -> None:
        """Give the directory and everything in it to the broker's group (where there is one)."""
        try:
            gid = grp.getgrnam(BROKER_GROUP).gr_gid
        except KeyError:
            return
        for path in [self.dir, *self.dir.iterdir()]:
            try:
                os.chown(path, -1, gid)
            except PermissionError:
                return  # not root and not in the group: the deployer runs the broker as themselves
            path.chmod(0o750 if path.is_dir() else SHARED)

    def reload(self) -> str | None:
        """Ask the broker to reread its files; None when done (or not ours to do), else what went wrong."""
        command = self.settings.broker.reload
        if not command:
            return None  # the deployer reloads it (deployment.yaml says broker.reload: [])
        if shutil.which(command[0]) is None:
            return f"`{command[0]}` is not on this machine"
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed: {(done.stderr or done.stdout).strip()}"
        return None

    def _write(self, name: str, data: bytes) -> None:
        write_file(self.dir / name, data, SHARED)

"""The deployment's own broker configuration, run on this machine: for the tests, the end-to-end
check and the Raspberry Pi rehearsal. It is `checkpoint.broker.Broker` started from the
mosquitto.conf that `checkpoint provision init` rendered, unchanged.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from checkpoint.broker import Broker
from checkpoint.provision.deployment import Deployment


class TrialBroker(Broker):
    """`rendered`: the deployment's broker/mosquitto.conf, whose data_dir is `<workdir>/data`."""

    def __init__(self, workdir: Path, port: int, cert_port: int, rendered: Path) -> None:
        super().__init__(workdir, port=port)
        self.cert_port = cert_port
        self._rendered = rendered

    @classmethod
    def of(cls, deployment: Deployment) -> TrialBroker:
        """The broker of `deployment` (init with --broker-data-dir <workdir>/data)."""
        broker = deployment.settings().broker
        return cls(broker.data_dir.parent, broker.port, broker.cert_port, deployment.broker_dir / "mosquitto.conf")

    def render(self, **extra: object) -> str:
        return self._rendered.read_text()

    def start(self, timeout: float = 10.0) -> TrialBroker:
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # Mosquitto started as root runs as `mosquitto`: let it write here
            for path in (self.workdir, self.workdir / "data"):
                shutil.chown(path, user="mosquitto")
        super().start(timeout)
        return self

    @property
    def reload_command(self) -> list[str]:
        """What deployment.yaml's broker.reload should say for this process."""
        if self._proc is None:
            raise RuntimeError("the broker is not running")
        return ["kill", "-HUP", str(self._proc.pid)]

"""A box's settings: one YAML file per box, `CHECKPOINT_AGENT_*` environment variables on top.

Secrets (the signing key, the deployment's pseudonym key, the MQTT password) may be given inline
or, better, as files (mode 0600) written by `checkpoint provision`. `central_key` is not secret:
it is the public key that checks central's signature on everything the box receives.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import SettingsConfigDict

from agent.gate import GateSettings
from agent.healthcode.chain import HealthCodeSettings
from agent.travellers import TravellerMix
from common import settings
from common.mqtt import MqttSettings
from common.settings import ConfigError, FileSettings
from contract.messages import CheckpointKind, Name, PlaceCode, RegionCode
from drivers.base import Device
from drivers.camera.capture import CameraConfig
from drivers.idcard.reader import IdCardConfig
from drivers.thermo.device import ThermoConfig


class Secret(BaseModel):
    """A key given as hex, inline or in a file."""

    hex: SecretStr | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Secret:
        if (self.hex is None) == (self.file is None):
            raise ValueError("give exactly one of `hex` or `file`")
        return self

    def value(self) -> bytes:
        text = self.hex.get_secret_value() if self.hex else Path(self.file or "").read_text().strip()
        return bytes.fromhex(text)


class OutboxSettings(BaseModel):
    path: Path = Path("var/agent/outbox.sqlite")
    capacity: int = Field(default=100_000, ge=10)
    warn_fraction: float = Field(default=0.8, gt=0, le=1)


class TravellerSettings(BaseModel):
    """Who the simulated travellers are (agent.travellers.TravellerMix): the everyday mix by default."""

    yellow: float = Field(default=0.04, ge=0, le=0.5)  # share of yellow codes
    red: float = Field(default=0.015, ge=0, le=0.5)  # share of red codes
    destinations: list[PlaceCode] = []  # places of the region tree the travellers say they go to
    home_regions: list[RegionCode] = []  # local ID numbers' region codes (the rest come from elsewhere)
    home_share: float = Field(default=0.75, ge=0, le=1)

    def mix(self, seed: int | None) -> TravellerMix:
        return TravellerMix(seed, yellow=self.yellow, red=self.red, destinations=self.destinations,
                            home=self.home_regions, home_share=self.home_share)


class SimulationSettings(BaseModel):
    """The simulated station used by `--simulate` and the demo.

    `devices`: synthetic travellers play the three device simulators (pseudo-terminals, rendered
    camera frames) and the real drivers read them. `direct`: travellers become facts without
    devices, for load and fault runs of the flow agent -> broker -> central.
    """

    mode: Literal["devices", "direct"] = "devices"
    passages_per_minute: float = Field(default=30, gt=0)
    seed: int | None = None
    thermometer: str = "gy-mcu"  # which thermometer protocol the simulator speaks
    workdir: Path = Path("var/agent/sim")  # where the simulators' device links live
    travellers: TravellerSettings = TravellerSettings()
    # a hotel's or a community's box: no travellers of its own, only those whose files appear in this
    # folder (agent.travellers.take_arrivals: the demo sends the transferred travellers who arrive)
    arrivals_dir: Path | None = None


class KioskSettings(BaseModel):
    host: str = "127.0.0.1"  # the touchscreen's browser runs on the box itself
    port: int = Field(default=8000, ge=0, le=65535)  # 0: pick a free port (the demo)
    venue_code: str = Field(default="", max_length=500)  # this checkpoint's own code (场所码), shown as a QR
    # the names the kiosk answers to (the Host header, without the port): any other name is a page
    # elsewhere that pointed its own name at this box (DNS rebinding) and gets nothing
    allowed_hosts: list[str] = ["127.0.0.1", "localhost", "::1"]
    voice: bool = True  # spoken prompts (agent/kiosk/voice.py); false: the page beeps


RELEASES_ROOT = Path("/opt/checkpoint")  # where the releases live, and `current` links to the one that runs
HEALTH_DEADLINE_S = 180.0


class UpdateSettings(BaseModel):
    """Software updates (agent.update, agent.supervisor): where releases come from and go.

    Each release is installed in its own virtual environment, `root`/releases/<version>; `root`/current
    links to the one that runs (the supervisor starts `current`/bin/checkpoint)."""

    central_url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$")  # central's API, as boxes reach it
    tls_ca: Path | None = None  # checks central's certificate (the deployment's CA); None: the system's
    release_key: Secret  # the public half of the deployment's release key: only what it signed is installed
    root: Path = RELEASES_ROOT
    python: Path | None = None  # makes the new environments; None: the interpreter this agent runs on
    # a release on trial proves itself healthy within this, or is rolled back
    health_deadline_s: float = Field(default=HEALTH_DEADLINE_S, ge=10, le=3600)


class AgentSettings(FileSettings):
    model_config = SettingsConfigDict(env_prefix="CHECKPOINT_AGENT_", env_nested_delimiter="__", extra="forbid")

    site: Name
    device: Name
    kind: CheckpointKind = CheckpointKind.TRAFFIC
    signing_key: Secret
    pseudonym_key: Secret
    central_key: Secret  # the public half of central's downlink key: only what it signed is obeyed
    home_province: str | None = Field(default=None, pattern=r"^\d{2}$")
    mqtt: MqttSettings = MqttSettings()
    outbox: OutboxSettings = OutboxSettings()
    policy_file: Path | None = None  # the policy in force until central pushes one
    state_dir: Path = Path("var/agent")  # pushed policy, watch-list and risk areas are kept here
    metrics_interval_s: float = Field(default=30, ge=1)
    passage_timeout_s: float = Field(default=20, ge=2, le=600)
    drain_timeout_s: float = Field(default=10, ge=0, le=3600)  # on stop: how long to wait for central's receipts
    idcard: IdCardConfig | None = None
    thermo: ThermoConfig | None = None
    camera: CameraConfig | None = None
    healthcode: HealthCodeSettings = HealthCodeSettings()
    kiosk: KioskSettings = KioskSettings()
    gate: GateSettings | None = None
    simulation: SimulationSettings = SimulationSettings()
    update: UpdateSettings | None = None  # None: this box takes no software updates over the air

    def devices(self) -> list[Device]:
        """The devices this box has; each driver is imported only when the box has that device."""
        devices: list[Device] = []
        if self.idcard is not None:
            from drivers.idcard.reader import IdCardReader

            devices.append(IdCardReader(self.idcard))
        if self.thermo is not None:
            from drivers.thermo.device import Thermometer

            devices.append(Thermometer(self.thermo))
        if self.camera is not None:
            from drivers.camera.device import Camera

            devices.append(Camera(self.camera))
        return devices


def load(path: Path | None) -> AgentSettings:
    """The one way to read a box's configuration: the YAML file, then CHECKPOINT_AGENT_* on top
    (a ConfigError naming the file and the field if it will not do)."""
    return settings.load(AgentSettings, path)


def render(config: Mapping[str, Any]) -> str:
    """The one way to write a box's agent.yaml: the text of `config`, once the agent accepts it (a
    ConfigError naming the field otherwise). The caller writes it 0600: it may hold keys."""
    try:
        AgentSettings.model_validate(dict(config))
    except ValidationError as exc:
        raise ConfigError(f"agent.yaml: {settings.describe(exc)}") from None
    return yaml.safe_dump(dict(config), allow_unicode=True, sort_keys=False)

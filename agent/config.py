"""A box's settings: one YAML file per box, `CHECKPOINT_AGENT_*` environment variables on top.

Secrets (the signing key, the deployment's pseudonym key, the MQTT password) may be given inline
or, better, as files (mode 0600) written by `checkpoint provision`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from checkpoint.settings import FileSettings
from contract.messages import CheckpointKind, Name
from contract.mqtt import MqttSettings


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


class SimulationSettings(BaseModel):
    """The simulated station used by `--simulate` and the demo."""

    passages_per_minute: float = Field(default=30, gt=0)
    seed: int | None = None


class AgentSettings(FileSettings):
    model_config = SettingsConfigDict(env_prefix="CHECKPOINT_AGENT_", env_nested_delimiter="__", extra="forbid")

    site: Name
    device: Name
    kind: CheckpointKind = CheckpointKind.TRAFFIC
    signing_key: Secret
    pseudonym_key: Secret
    home_province: str | None = Field(default=None, pattern=r"^\d{2}$")
    mqtt: MqttSettings = MqttSettings()
    outbox: OutboxSettings = OutboxSettings()
    policy_file: Path | None = None  # the policy in force until central pushes one
    state_dir: Path = Path("var/agent")  # pushed policy, watch-list and risk areas are kept here
    metrics_interval_s: float = Field(default=30, ge=1)
    simulation: SimulationSettings = SimulationSettings()

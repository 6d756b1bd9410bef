"""Central's settings: one YAML file, `CHECKPOINT_CENTRAL_*` environment variables on top."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from checkpoint.settings import FileSettings
from contract.mqtt import MqttSettings


class IngestSettings(BaseModel):
    """Sized together with the broker: the broker hands a collector at most its in-flight window of
    un-acknowledged messages (max_inflight_messages), and we acknowledge only after a commit, so a
    batch larger than that window would never fill."""

    group: str = Field(default="central", pattern=r"^[A-Za-z0-9_-]+$")  # the shared-subscription group
    client_id: str = "central-1"  # stable per replica: a restart resumes its own session
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=60)
    batch_max: int = Field(default=500, ge=1)
    batch_wait_ms: int = Field(default=50, ge=1)
    max_payload_bytes: int = Field(default=64 * 1024, ge=1024)


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080


class CentralSettings(FileSettings):
    model_config = SettingsConfigDict(env_prefix="CHECKPOINT_CENTRAL_", env_nested_delimiter="__", extra="forbid")

    database_url: str = "sqlite:///var/central/central.sqlite"
    mqtt: MqttSettings = MqttSettings()
    ingest: IngestSettings = IngestSettings()
    http: HttpSettings = HttpSettings()

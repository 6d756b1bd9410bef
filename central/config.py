"""Central's settings: one YAML file, `CHECKPOINT_CENTRAL_*` environment variables on top."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr, StringConstraints, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from common.mqtt import MqttSettings
from common.settings import ConfigError, FileSettings
from contract import signing
from contract.messages import FollowUp


class IngestSettings(BaseModel):
    """Sized together with the broker: the broker hands a collector at most its in-flight window of
    un-acknowledged messages (max_inflight_messages), and we acknowledge only after a commit, so a
    batch larger than that window would never fill."""

    group: str = Field(default="central", pattern=r"^[A-Za-z0-9_-]+$")  # the shared-subscription group
    client_id: str = "central-1"  # stable per replica: a restart resumes its own session
    # collectors of this replica, each its own process and session: the first is `client_id`, the
    # others `client_id`-w2, -w3, …; lowering it retires the ones above (central.main)
    workers: int = Field(default=1, ge=1, le=32)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=60)
    batch_max: int = Field(default=500, ge=1)
    batch_wait_ms: int = Field(default=50, ge=1)
    max_payload_bytes: int = Field(default=64 * 1024, ge=1024)


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    session_hours: float = Field(default=12, gt=0)  # a login lasts this long
    # cookies over HTTPS only. A request that came over HTTPS (or through a reverse proxy on this
    # machine that says so with X-Forwarded-Proto) gets them so anyway; this forces it for every one.
    secure_cookies: bool = False
    public_url: str = ""  # how the office reaches the dashboard, used in webhook alerts' links
    # origins allowed to show the dashboard in a frame (the demo's wall page); none by default
    frame_ancestors: list[Annotated[str, StringConstraints(pattern=r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?$")]] = []


class RetentionSettings(BaseModel):
    """How long central keeps what it stores (docs/design.md §9, privacy)."""

    verdict_days: float = Field(default=30, gt=0)  # verdicts of open cases stay until the case is closed
    closed_case_days: float = Field(default=180, gt=0)  # a closed case (and its identity) is purged after this
    dead_letter_days: float = Field(default=30, gt=0)
    metrics_days: float = Field(default=7, gt=0)  # each box's metrics history (the charts on its page)
    diagnostics_days: float = Field(default=30, gt=0)  # diagnostics requests and the boxes' answers
    interval_s: float = Field(default=3600, ge=1)  # how often each replica runs the purge


class WebhookSettings(BaseModel):
    """Alerts for new cases, POSTed as JSON to each URL; retried with doubling delays."""

    urls: list[AnyHttpUrl] = []
    timeout_s: float = Field(default=5, gt=0)
    first_retry_s: float = Field(default=2, gt=0)
    max_retry_s: float = Field(default=300, gt=0)
    max_attempts: int = Field(default=12, ge=1)
    poll_s: float = Field(default=1, gt=0)


class DeviceSettings(BaseModel):
    offline_after_s: float = Field(default=180, gt=0)  # no birth, metrics or verdict for this long: offline
    clock_skew_s: float = Field(default=120, gt=0)  # a box's clock further off than this is flagged


class ExportSettings(BaseModel):
    """Exports built in the background (central.export_jobs): a request waits `wait_s` for its file, then
    answers with the job to follow instead (a province's cases take seconds to write)."""

    wait_s: float = Field(default=0.1, ge=0, le=600)
    fresh_s: float = Field(default=300, ge=0)  # the same export asked again within this long: the same file
    keep_s: float = Field(default=3600, gt=0)  # jobs and their files are deleted after this long
    stale_s: float = Field(default=120, gt=0)  # a running job that has not moved for this long has failed
    workers: int = Field(default=1, ge=1, le=8)  # jobs built at once by one web server
    process: bool = True  # each job in a process of its own (false: in a thread of the web server)


class ObligationSettings(BaseModel):
    """The follow-ups central holds an office to (闭环管理), and by when: hours from the passage.

    A follow-up with no deadline here opens no obligation (a staff check or a turn-back happens at
    the gate, not afterwards)."""

    deadlines_h: dict[FollowUp, Annotated[float, Field(gt=0, le=24 * 90)]] = {
        FollowUp.TEST_ON_ARRIVAL: 24,  # 落地检 within a day
        FollowUp.ISOLATION_TRANSFER: 4,  # arrival at the isolation site within 4 hours
        FollowUp.FEVER_CLINIC: 4,
        FollowUp.REGISTER_DESTINATION: 24,  # 报备 with the destination community
    }
    waive_role: Literal["operator", "admin"] = "admin"  # who may waive an obligation (with a reason)
    scan_s: float = Field(default=30, gt=0)  # how often each replica looks for obligations past their deadline


class RegistrationSettings(BaseModel):
    """When a pre-registration (报备) counts at the gate, around the day the traveller gave."""

    days_before: int = Field(default=1, ge=0, le=30)  # an early arrival is still registered
    days_after: int = Field(default=3, ge=0, le=30)  # after this a registration is neither pushed nor accepted


class CentralSettings(FileSettings):
    model_config = SettingsConfigDict(env_prefix="CHECKPOINT_CENTRAL_", env_nested_delimiter="__", extra="forbid")

    database_url: str = "sqlite:///var/central/central.sqlite"
    timezone: str = "Asia/Shanghai"  # the office's days: daily figures and the ledger are cut at its midnight
    # The deployment's pseudonym key (the boxes' `pseudonym_key`), hex inline or in a file: needed to turn
    # an uploaded watch-list of ID numbers into pseudonyms.
    pseudonym_key: SecretStr | None = None
    pseudonym_key_file: Path | None = None
    # Central's downlink key (Ed25519, the 32-byte seed in hex), inline or in a file: it signs every
    # receipt and push; the boxes hold its public half (`central_key` in agent.yaml) and obey
    # nothing else. `checkpoint provision init` makes it.
    downlink_key: SecretStr | None = None
    downlink_key_file: Path | None = None
    # The public half of the deployment's release key (hex, in a file): central takes in only releases
    # it signed (`checkpoint release publish`), and keeps them in `releases_dir` to serve to the boxes.
    release_key_file: Path | None = None
    releases_dir: Path = Path("var/central/releases")
    mqtt: MqttSettings = MqttSettings()
    ingest: IngestSettings = IngestSettings()
    http: HttpSettings = HttpSettings()
    retention: RetentionSettings = RetentionSettings()
    webhooks: WebhookSettings = WebhookSettings()
    devices: DeviceSettings = DeviceSettings()
    obligations: ObligationSettings = ObligationSettings()
    registrations: RegistrationSettings = RegistrationSettings()
    exports: ExportSettings = ExportSettings()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)") from None
        return value

    @model_validator(mode="after")
    def _one_key(self) -> CentralSettings:
        if self.pseudonym_key is not None and self.pseudonym_key_file is not None:
            raise ValueError("give at most one of `pseudonym_key` and `pseudonym_key_file`")
        if self.downlink_key is not None and self.downlink_key_file is not None:
            raise ValueError("give at most one of `downlink_key` and `downlink_key_file`")
        return self

    def downlink_signer(self) -> Ed25519PrivateKey:
        """The key that signs receipts and pushes; a ConfigError that says how to make one if none."""
        if self.downlink_key is not None:
            text = self.downlink_key.get_secret_value()
        elif self.downlink_key_file is not None:
            try:
                text = self.downlink_key_file.read_text()
            except OSError as exc:
                raise ConfigError(f"downlink_key_file {self.downlink_key_file}: {exc.strerror}") from None
        else:
            raise ConfigError(
                "central has no downlink key (`downlink_key_file` in central.yaml): it signs every receipt "
                "and push. `checkpoint provision init` makes one; `checkpoint central keygen` too"
            )
        try:
            return signing.private_key(text)
        except ValueError:
            raise ConfigError("the downlink key is not 32 bytes in hex") from None

    def release_key(self) -> Ed25519PublicKey:
        """The key every release must be signed with; a ConfigError that says where it comes from if none."""
        if self.release_key_file is None:
            raise ConfigError("central has no release key (`release_key_file` in central.yaml): "
                              "`checkpoint provision init` writes it beside central.yaml")
        try:
            return signing.public_key(self.release_key_file.read_text())
        except OSError as exc:
            raise ConfigError(f"release_key_file {self.release_key_file}: {exc.strerror}") from None
        except ValueError:
            raise ConfigError("the release key is not 32 bytes in hex") from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def pseudonym_key_bytes(self) -> bytes | None:
        """The key, or None when this central has none (watch-list uploads are then refused)."""
        if self.pseudonym_key is not None:
            text = self.pseudonym_key.get_secret_value()
        elif self.pseudonym_key_file is not None:
            text = self.pseudonym_key_file.read_text().strip()
        else:
            return None
        return bytes.fromhex(text)

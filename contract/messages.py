"""Message models of contract v1. Every message that crosses the broker is one of these.

Models are strict at the boundary (unknown fields rejected, sizes bounded) so that a malformed or
hostile message fails validation with a clear reason instead of reaching storage.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

CONTRACT_VERSION: Literal[1] = 1

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
"""Site and device ids: lower-case letters, digits and dashes, safe in topics and file names."""
Short = Annotated[str, StringConstraints(max_length=64)]
Text = Annotated[str, StringConstraints(max_length=500)]
Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
CentralSig = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{128}$")]
"""Central's Ed25519 signature on a downlink (contract.signing)."""
ReceiptSig = Annotated[str, StringConstraints(pattern=r"^(?:[0-9a-f]{64}){1,2}$")]
"""A receipt's: central's signature (128), or an HMAC with the box's own key (64; contract.signing)."""
Epoch = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
"""A box's life: a random id made together with its outbox. A box whose outbox is lost starts a
new life (sequence numbers from 1 again), which central can tell from the old one's gap."""


def _plausible_time(at: datetime) -> datetime:
    """A time in UTC between 1970 (a box without a clock) and 2999; anything else is garbage."""
    if 1970 < at.year < 2999:  # no offset (less than a day) takes it out: no conversion needed
        return at
    try:
        utc = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError("time out of range") from None
    if not 1970 <= utc.year <= 2999:
        raise ValueError("time out of range: before 1970 or after 2999")
    return at


Time = Annotated[datetime, AfterValidator(_plausible_time)]
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
"""Counters and sequence numbers: they fit a 32-bit signed column everywhere they are stored."""
RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
PlaceCode = Annotated[str, StringConstraints(pattern=r"^(\d{6}|\d{9}|\d{12})$")]
"""A place in the region tree: a county (GB/T 2260, 6 digits), a township (9) or a community (12)."""
ReleaseVersion = Annotated[str, StringConstraints(pattern=r"^[0-9][0-9A-Za-z.+]{0,63}$")]
"""A release's version (PEP 440 without dashes): safe as a directory name on the box and in a URL."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckpointKind(StrEnum):
    TRAFFIC = "traffic"
    COMMUNITY = "community"


class Decision(StrEnum):
    PASS = "pass"
    REVIEW = "review"
    DENY = "deny"


class CodeColour(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    GREY = "grey"
    UNKNOWN = "unknown"


class ColourSource(StrEnum):
    """Who decided the code colour, strongest first. A screen colour can be a forged screenshot."""

    SIGNED_PAYLOAD = "signed_payload"
    ONLINE_LOOKUP = "online_lookup"
    SCREEN_COLOUR = "screen_colour"
    STAFF = "staff"
    NONE = "none"


class IdSource(StrEnum):
    CARD = "card"  # read from the card's chip
    TYPED = "typed"  # typed by staff when the reader could not read
    NONE = "none"


class Reason(StrEnum):
    """Machine-readable reasons for a verdict; the kiosk and the dashboard translate them."""

    CODE_GREEN = "code_green"
    CODE_YELLOW = "code_yellow"
    CODE_RED = "code_red"
    CODE_UNREADABLE = "code_unreadable"
    CODE_EXPIRED = "code_expired"
    CODE_FORGED = "code_forged"
    CODE_COLOUR_ONLY = "code_colour_only"
    TEMP_NORMAL = "temp_normal"
    FEVER_FIRST_READING = "fever_first_reading"
    FEVER_CONFIRMED = "fever_confirmed"
    TEMP_INVALID = "temp_invalid"
    MISSING_ID = "missing_id"
    MISSING_CODE = "missing_code"
    MISSING_TEMP = "missing_temp"
    CARD_EXPIRED = "card_expired"
    WATCHLIST = "watchlist"
    RISK_AREA_ORIGIN = "risk_area_origin"
    OUT_OF_PROVINCE = "out_of_province"
    PRE_REGISTERED = "pre_registered"
    STAFF_OVERRIDE = "staff_override"


class FollowUp(StrEnum):
    """The follow-up actions checkpoints took (docs/design.md §4, docs/protocols.md §4)."""

    TURN_BACK = "turn_back"  # 劝返
    TEST_ON_ARRIVAL = "test_on_arrival"  # 落地检
    ISOLATION_TRANSFER = "isolation_transfer"  # 点对点转运隔离
    FEVER_CLINIC = "fever_clinic"  # 转运发热门诊
    REGISTER_DESTINATION = "register_destination"  # 报备目的地社区
    NOTIFY_COMMAND = "notify_command"  # 立即报告指挥部
    STAFF_VERIFY = "staff_verify"  # 工作人员人工核验


class Identity(Model):
    """The full identity: sent only with flagged verdicts."""

    name: Annotated[str, StringConstraints(max_length=120)]
    id_number: Annotated[str, StringConstraints(max_length=36)]
    card_type: Short | None = None


class PersonInput(Model):
    source: IdSource
    pseudonym: Hex64 | None = None  # HMAC of the ID number under the deployment key
    id_masked: Annotated[str, StringConstraints(max_length=36)] | None = None
    province: Annotated[str, StringConstraints(pattern=r"^\d{2}$")] | None = None
    card_expired: bool | None = None
    identity: Identity | None = None  # only when the verdict is flagged (docs/design.md §9, privacy)


class CodeInput(Model):
    colour: CodeColour
    source: ColourSource
    issuer: Short | None = None
    detail: Text = ""


class TemperatureInput(Model):
    body_c: float | None = Field(default=None, ge=20, le=50)  # object reading + offset; None if invalid
    object_c: float | None = Field(default=None, ge=-40, le=125)
    offset_c: float = Field(default=0.0, ge=-5, le=5)
    sensor: Short  # protocol or device name
    readings: int = Field(default=1, ge=0, le=20)  # measurements taken (re-measures included)
    valid: bool = True


class TravelInput(Model):
    """What a traffic checkpoint registers (卡口登记): plate, origin, destination."""

    plate: Annotated[str, StringConstraints(max_length=16)] | None = None
    origin: RegionCode | None = None
    destination: Annotated[str, StringConstraints(max_length=120)] | None = None
    # the declared destination as a place code, when known: central hands the follow-ups it owes
    # (报备, 落地检) to that place's office
    destination_code: PlaceCode | None = None


class Registration(Model):
    """A traveller's pre-registration (报备) with the destination: where to, and the day they said they
    would come. A box holds these under the traveller's pseudonym (RegistrationsPush); the verdict of a
    registered traveller carries theirs."""

    destination: PlaceCode
    expected: date
    place: Short = ""  # the destination's name, as central named it to the box (for the kiosk)


class Inputs(Model):
    person: PersonInput
    code: CodeInput | None = None
    temperature: TemperatureInput | None = None
    travel: TravelInput | None = None
    registration: Registration | None = None


class Override(Model):
    """A staff decision that replaced the policy's: `original` is what the policy decided."""

    original: Decision
    decision: Decision
    reason: Text
    staff: Short = ""


class Verdict(Model):
    """One passage's verdict, as signed by the device that made it."""

    type: Literal["verdict"] = "verdict"
    v: Literal[1] = CONTRACT_VERSION
    id: UUID
    site: Name
    device: Name
    epoch: Epoch | None = None  # the box's life (None: a box from before lives were kept)
    seq: int = Field(ge=1, le=2**31 - 1)  # per device and life, strictly increasing, survives restarts
    boot: int = Field(ge=1, le=2**31 - 1)  # how many times the agent has started in this life
    device_time: Time
    clock_synced: bool = True
    kind: CheckpointKind
    inputs: Inputs
    decision: Decision
    reasons: Annotated[list[Reason], Field(max_length=20)]
    follow_up: Annotated[list[FollowUp], Field(max_length=10)] = []
    override: Override | None = None
    supersedes: UUID | None = None  # the verdict this one replaces (a staff override of it)
    policy_version: Short
    sig: Hex64 | None = None  # HMAC-SHA256 over the canonical payload (contract.signing)

    @property
    def flagged(self) -> bool:
        return self.decision is not Decision.PASS


class DeviceState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


WILL_ORDER = 2**31 - 1
"""The `order` of a death message: the last word of the connection it belongs to."""


class BoxReport(Model):
    """What a box says about itself, signed like its verdicts (HMAC with its key).

    Central orders a box's reports by the box's own counters, never by its clock (which may be
    wrong): `boot` (starts of the agent in this life), `connection` (MQTT connections in this run)
    and `order` (reports sent in this run). A death (the MQTT will, set before each connection)
    carries that connection's number and WILL_ORDER, so it ends exactly that connection: a birth
    of a later connection always wins over it, whatever the clocks say.
    """

    v: Literal[1] = CONTRACT_VERSION
    site: Name
    device: Name
    epoch: Epoch | None = None
    boot: Count
    connection: Count = 0
    order: Count = 0
    last_seq: Count = 0  # the outbox's last sequence number: what this life has produced so far
    device_time: Time
    sig: Hex64 | None = None

    @property
    def rank(self) -> tuple[int, int, int]:
        """Later reports of one life rank higher."""
        return (self.boot, self.connection, self.order)


class LostLife(Model):
    """An earlier life of the box whose outbox was lost, and the last sequence number it had made."""

    epoch: Epoch | None
    last_seq: Count


class Status(BoxReport):
    """Retained birth (online) and, as the MQTT will, death (offline) of an agent."""

    type: Literal["status"] = "status"
    state: DeviceState
    lost_lives: Annotated[list[LostLife], Field(max_length=5)] = []  # kept beside the outbox, told at birth
    software: Short = ""
    config_version: Short = ""
    policy_version: Short = ""
    policy_rejected: Text | None = None  # why the last pushed policy was refused, if it was
    devices: dict[Short, Short] = {}  # device name -> health state
    update_state: Short = ""  # of the last update downlink: fetching, installing, ..., updated, rolled_back, failed
    update_version: Short = ""  # the release it concerns
    update_reason: Text = ""  # why it failed or was rolled back


class Metrics(BoxReport):
    """Periodic figures from an agent."""

    type: Literal["metrics"] = "metrics"
    passages: Count
    verdicts: dict[Decision, Count] = {}
    outbox_depth: Count
    outbox_capacity: int = Field(ge=1, le=2**31 - 1)
    decode_fps: float | None = None
    cpu_percent: float | None = Field(default=None, ge=0, le=100)  # the whole box's, since the last metrics
    cpu_temp_c: float | None = None
    disk_free_mb: float | None = None


class PolicyPush(Model):
    """Downlink (retained): a new policy document. The agent validates it and reports a refusal."""

    type: Literal["policy"] = "policy"
    v: Literal[1] = CONTRACT_VERSION
    version: Short
    issued_at: Time
    document: dict[str, Any]
    sig: CentralSig | None = None


class WatchlistPush(Model):
    """Downlink (retained): people to stop (协查名单), as keyed pseudonyms only, never ID numbers."""

    type: Literal["watchlist"] = "watchlist"
    v: Literal[1] = CONTRACT_VERSION
    version: Short
    issued_at: Time
    pseudonyms: Annotated[list[Hex64], Field(max_length=200_000)]
    sig: CentralSig | None = None


class ConfigPush(Model):
    """Downlink (retained): settings central may change on a box without a visit."""

    type: Literal["config"] = "config"
    v: Literal[1] = CONTRACT_VERSION
    version: Short
    issued_at: Time
    metrics_interval_s: float | None = Field(default=None, ge=5, le=3600)
    sig: CentralSig | None = None


class RiskAreasPush(Model):
    """Downlink (retained): risk areas by region code (GB/T 2260), matched against a traveller's origin.

    A code ending in zeros covers its whole prefecture (4 digits kept) or province (2 digits kept).
    """

    type: Literal["risk_areas"] = "risk_areas"
    v: Literal[1] = CONTRACT_VERSION
    version: Short
    issued_at: Time
    regions: Annotated[list[RegionCode], Field(max_length=5000)]
    sig: CentralSig | None = None


class RegistrationsPush(Model):
    """Downlink (retained): the travellers who registered in advance (报备), by keyed pseudonym only.

    Grouped by destination and expected day, which keeps 100,000 people near 7 MB. A registration
    counts at the gate from `days_before` its expected day to `days_after` it (in the box's own
    days), so a list pushed days ago lets no one through as registered for ever. `places` names the
    destinations, for the kiosk's "已报备 → <place>".
    """

    type: Literal["registrations"] = "registrations"
    v: Literal[1] = CONTRACT_VERSION
    version: Short
    issued_at: Time
    days_before: int = Field(default=1, ge=0, le=30)
    days_after: int = Field(default=3, ge=0, le=30)
    arrivals: Annotated[dict[PlaceCode, dict[date, list[Hex64]]], Field(max_length=100_000)]
    places: Annotated[dict[PlaceCode, Short], Field(max_length=100_000)] = {}
    sig: CentralSig | None = None

    @model_validator(mode="after")
    def _bounded(self) -> RegistrationsPush:
        if sum(len(people) for days in self.arrivals.values() for people in days.values()) > 200_000:
            raise ValueError("more than 200,000 registrations in one push")
        return self

    def people(self) -> dict[str, Registration]:
        """Each person's registration, by pseudonym."""
        return {p: Registration(destination=place, expected=day, place=self.places.get(place, ""))
                for place, days in self.arrivals.items() for day, people in days.items() for p in people}

    def counts(self, registration: Registration, today: date) -> bool:
        """Whether a registration lets its traveller through as registered today."""
        first = registration.expected - timedelta(days=self.days_before)
        return first <= today <= registration.expected + timedelta(days=self.days_after)

class UpdatePush(Model):
    """Downlink (retained, on one box's own topic): install this release (docs/deploy.md, releases).

    Central names the release and pins its manifest by SHA-256; the box fetches both from central's
    HTTPS API and checks the manifest against the deployment's release key before installing. Being
    retained, it reaches a box that was offline when the rollout sent it.
    """

    type: Literal["update"] = "update"
    v: Literal[1] = CONTRACT_VERSION
    version: ReleaseVersion
    manifest_sha256: Hex64
    rollout: int | None = Field(default=None, ge=1, le=2**31 - 1)
    issued_at: Time
    sig: CentralSig | None = None


class Receipt(Model):
    """Downlink (not retained): central has committed these verdicts of one box.

    The broker's PUBACK is not durable (a broker killed with SIGKILL forgets what it had not yet
    saved), so a box deletes a verdict from its outbox only on this receipt, and sends again what
    stays un-receipted. `seqs` are inclusive ranges [first, last] of the life `epoch`; a box acts
    only on a receipt central signed (or MAC'd with the box's key, contract.signing), and deletes only
    rows it sent that the receipt names.
    """

    type: Literal["receipt"] = "receipt"
    v: Literal[1] = CONTRACT_VERSION
    device: Name
    epoch: Epoch | None = None
    seqs: Annotated[list[tuple[Count, Count]], Field(max_length=10_000)]
    sig: ReceiptSig | None = None

    @classmethod
    def of(cls, device: str, seqs: list[int], epoch: str | None = None) -> Receipt:
        ranges: list[tuple[int, int]] = []
        for s in sorted(set(seqs)):
            if ranges and ranges[-1][1] == s - 1:
                ranges[-1] = (ranges[-1][0], s)
            else:
                ranges.append((s, s))
        return cls(device=device, epoch=epoch, seqs=ranges)

    def expand(self) -> list[int]:
        return [s for first, last in self.seqs for s in range(first, last + 1)]


class IdentityConflict(Model):
    """Downlink (retained, on one box's own topic): two boxes are using one identity.

    Central saw two lives of `device` come online in turn (the same bundle installed on two
    boxes): they take each other's MQTT session every few seconds. The life named `refused` (the
    one that appeared second) stops connecting and says why; `kept` goes on. Both keep recording.
    """

    type: Literal["conflict"] = "conflict"
    v: Literal[1] = CONTRACT_VERSION
    device: Name
    refused: Epoch
    kept: Epoch | None = None
    issued_at: Time
    sig: CentralSig | None = None


class CheckState(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but look at it
    FAIL = "fail"  # the box will not work like this


class Check(Model):
    """One result of a box's self-check (`checkpoint doctor`, or a running agent's diagnostics)."""

    name: Annotated[str, StringConstraints(max_length=300)]  # may name a serial port by its full path
    state: CheckState
    detail: Annotated[str, StringConstraints(max_length=1000)]


LOG_LINES_MAX = 500
"""The most log lines one diagnostics request may ask for."""
LOG_LINE_CHARS = 2000
DIAGNOSTICS_MAX_BYTES = 48 * 1024
"""A box's diagnostics answer, signed and on the wire, stays under this (central takes 64 KiB at most):
the box leaves out its oldest log lines until it does, and says how many it left out."""


class DiagnosticsRequest(Model):
    """Downlink (not retained, on one box's own topic): an admin asks for the box's doctor report and
    its last `log_lines` log lines. The box answers only a request central signed, once per `id`."""

    type: Literal["diagnostics"] = "diagnostics"
    v: Literal[1] = CONTRACT_VERSION
    id: UUID
    device: Name
    log_lines: int = Field(default=100, ge=0, le=LOG_LINES_MAX)
    issued_at: Time
    sig: CentralSig | None = None


class Diagnostics(Model):
    """Uplink: a box's answer to a DiagnosticsRequest, signed with its key like its verdicts.

    The log lines are the agent's own structured lines, masked as they were written (never a full
    ID number; central refuses an answer that carries one)."""

    type: Literal["diagnostics"] = "diagnostics"
    v: Literal[1] = CONTRACT_VERSION
    site: Name
    device: Name
    request: UUID
    device_time: Time
    software: Short = ""
    checks: Annotated[list[Check], Field(max_length=50)]
    logs: Annotated[list[Annotated[str, StringConstraints(max_length=LOG_LINE_CHARS)]], Field(max_length=LOG_LINES_MAX)]
    logs_left_out: Count = 0  # asked for, but left out to keep the answer under DIAGNOSTICS_MAX_BYTES
    refused_downlinks: Count = 0  # downlinks refused since the agent started (unsigned, forged, malformed)
    sig: Hex64 | None = None


UPLINK_MODELS: dict[str, type[Model]] = {
    "verdict": Verdict,
    "status": Status,
    "metrics": Metrics,
    "diagnostics": Diagnostics,
}
DOWNLINK_MODELS: dict[str, type[Model]] = {
    "policy": PolicyPush,
    "watchlist": WatchlistPush,
    "risk_areas": RiskAreasPush,
    "config": ConfigPush,
    "update": UpdatePush,
    "registrations": RegistrationsPush,
}

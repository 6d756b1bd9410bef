"""Central's tables (SQLAlchemy Core). Alembic migrations in central/migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

verdicts = Table(
    "verdicts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("site", String(32), nullable=False),
    Column("device", String(32), nullable=False),
    Column("epoch", String(16), nullable=False, server_default=""),  # the box's life ("": from before lives)
    Column("seq", Integer, nullable=False),
    Column("boot", Integer, nullable=False),
    Column("device_time", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("clock_synced", Boolean, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("decision", String(8), nullable=False),
    Column("flagged", Boolean, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("follow_up", JSON, nullable=False),
    Column("pseudonym", String(64)),
    Column("id_masked", String(36)),
    Column("colour", String(8)),
    Column("colour_source", String(16)),
    Column("body_c", Float),
    Column("plate", String(16)),
    Column("origin", String(6)),
    Column("destination", String(120)),
    Column("policy_version", String(64), nullable=False),
    Column("overridden", Boolean, nullable=False, default=False),
    Column("supersedes", String(36)),
    Column("replayed", Boolean, nullable=False, default=False),
    Column("payload", JSON, nullable=False),  # the message as signed (identity only when flagged)
    Column("case_id", Integer),  # the case this verdict opened or joined
    Index("verdicts_device_seq", "device", "epoch", "seq"),
    Index("verdicts_received", "received_at"),
    Index("verdicts_device_arrival", "device", "received_at", "seq"),  # one box's newest
    Index("verdicts_site_time", "site", "device_time"),
    Index("verdicts_pseudonym", "pseudonym"),
    Index("verdicts_flagged_received", "flagged", "received_at"),  # the live feed
    Index("verdicts_flagged_time", "device_time", sqlite_where=text("flagged IS 1"),  # the daily report
          postgresql_where=text("flagged IS true")),
    Index("verdicts_flagged_site", "site", "received_at", sqlite_where=text("flagged IS 1"),  # an office's feed
          postgresql_where=text("flagged IS true")),
    Index("verdicts_case", "case_id", sqlite_where=text("case_id IS NOT NULL"),
          postgresql_where=text("case_id IS NOT NULL")),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("topic", String(256), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),  # as received, cut at the ingest size limit
)

devices = Table(
    "devices",
    metadata,
    Column("device", String(32), primary_key=True),
    Column("site", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("key_hex", String(64), nullable=False),  # the box's signing key (HMAC)
    Column("revoked", Boolean, nullable=False, default=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
)

device_status = Table(
    "device_status",
    metadata,
    Column("device", String(32), primary_key=True),
    Column("site", String(32), nullable=False),
    Column("state", String(8), nullable=False),
    Column("epoch", String(16)),  # the current life (central.lives); null before the first report
    Column("boot", Integer, nullable=False),  # boot, connection, order_n: the newest report's rank
    Column("connection", Integer, nullable=False, server_default="0"),
    Column("order_n", Integer, nullable=False, server_default="0"),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("software", String(64)),
    Column("policy_version", String(64)),
    Column("policy_rejected", Text),
    Column("health", JSON),
    Column("metrics", JSON),
    Column("device_time", DateTime(timezone=True)),  # the box's clock in its newest report
    Column("clock_offset_s", Float),  # the box's clock minus central's, when that report arrived
    Column("conflict", JSON),  # two boxes with this identity: {"kept", "refused", "at"}
    Column("software_update", JSON),  # the box's last update: {"state", "version", "reason"} (agent.update)
    Column("mac_receipts", Boolean, nullable=False, server_default=text("false")),  # its status: MAC its receipts
)

device_lives = Table(
    "device_lives",
    metadata,
    Column("device", String(32), primary_key=True),
    Column("epoch", String(16), primary_key=True),
    Column("site", String(32), nullable=False),
    Column("max_seq", Integer, nullable=False, server_default="0"),
    Column("stored", Integer, nullable=False, server_default="0"),  # distinct verdicts stored
    Column("produced", Integer, nullable=False, server_default="0"),  # the highest last_seq the box reported
    Column("last_verdict_at", DateTime(timezone=True)),
    Column("boot", Integer, nullable=False, server_default="0"),  # rank of its newest report
    Column("connection", Integer, nullable=False, server_default="0"),
    Column("order_n", Integer, nullable=False, server_default="0"),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),  # a newer life took over (the outbox was lost)
    Column("refused", Boolean, nullable=False, server_default=text("false")),  # the second of two twins
)
"""One row per life of a box, kept in the ingest transaction (retention does not change it):
max(produced, max_seq) - stored is what the life produced and central never got."""

daily_figures = Table(
    "daily_figures",
    metadata,
    Column("site", String(32), primary_key=True),
    Column("day", Date, primary_key=True),  # in the office's time zone (CentralSettings.timezone)
    Column("total", Integer, nullable=False),
    Column("passed", Integer, nullable=False),
    Column("review", Integer, nullable=False),
    Column("deny", Integer, nullable=False),
    Column("fever", Integer, nullable=False),
    Column("code_yellow", Integer, nullable=False),
    Column("code_red", Integer, nullable=False),
    Column("watchlist", Integer, nullable=False),
    Column("overridden", Integer, nullable=False),
    Index("daily_figures_day", "day", "site"),  # a day's or a range's rows of every checkpoint, in order
)
"""Counted as verdicts are first stored, so the figures outlive the verdicts' retention (a province's
2,000 checkpoints: 730,000 rows a year)."""

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pseudonym", String(64)),  # null when the box could not identify the person: one case per verdict
    Column("status", String(12), nullable=False),  # new | contacted | transferred | closed
    Column("severity", String(8), nullable=False),  # the strictest decision seen: review | deny
    Column("reasons", JSON, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("first_seen", DateTime(timezone=True), nullable=False),  # device time at the first checkpoint
    Column("first_site", String(32), nullable=False),
    Column("first_device", String(32), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("last_site", String(32), nullable=False),
    Column("verdicts", Integer, nullable=False),
    Column("id_masked", String(36)),
    Column("identity", JSON),  # name and ID number from a flagged verdict; shown only when unmasked (audited)
    Column("plate", String(16)),
    Column("origin", String(6)),
    Column("destination", String(120)),  # where the traveller said they were going
    Column("transfer_kind", String(16)),  # isolation_site | fever_clinic | home_quarantine
    Column("transfer_to", String(200)),
    Column("assignee", String(64)),
    Index("cases_status_opened", "status", "opened_at"),
    Index("cases_closed", "closed_at"),
    # one open case per person, whichever replica sees the verdicts
    Index("cases_open_pseudonym", "pseudonym", unique=True,
          sqlite_where=text("closed_at IS NULL"), postgresql_where=text("closed_at IS NULL")),
)

case_events = Table(
    "case_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),  # a user name, or "central" for what ingest did
    Column("action", String(16), nullable=False),  # opened | joined | contacted | transferred | closed | note | ...
    Column("detail", JSON, nullable=False),
    Index("case_events_case", "case_id", "id"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, nullable=False),
    Column("url", String(500), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True)),  # a replica delivering it holds it until then
    Column("attempts", Integer, nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Column("gave_up", Boolean, nullable=False),
    Column("last_error", Text),
    Column("obligation_id", Integer),  # an obligation gone overdue; null: the case was opened
    Index("alerts_due", "delivered_at", "gave_up", "next_at"),
)
"""Webhook alerts to deliver, written in the same transaction as the case they announce."""

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # viewer | operator | admin
    Column("password_hash", String(200), nullable=False),  # argon2id
    Column("disabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("region", String(20), nullable=False, server_default="0"),  # the node whose subtree they see
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 of the cookie's token, never the token
    Column("user_id", Integer, nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("sessions_expires", "expires_at"),
)
"""Kept in the database so that any replica serves any logged-in user."""

login_failures = Table(
    "login_failures",
    metadata,
    Column("kind", String(8), primary_key=True),  # user | address
    Column("subject", String(64), primary_key=True),  # the user name tried, or the client's address
    Column("failures", Integer, nullable=False),  # in a row, forgotten after a quiet hour
    Column("last_failure_at", DateTime(timezone=True), nullable=False),
    Column("locked_until", DateTime(timezone=True)),  # no login for this account / from this address till then
    Index("login_failures_last", "last_failure_at"),
)
"""Failed logins per account and per address (central.throttle); in the database so that every
replica sees every other's."""

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("username", String(64), nullable=False),
    Column("action", String(32), nullable=False),  # unmask | push_watchlist | push_policy | user_add | ...
    Column("target", String(100), nullable=False),
    Column("detail", Text, nullable=False),
    Column("address", String(64), nullable=False),
    Index("audit_at", "at"),
)

pushes = Table(
    "pushes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("what", String(16), nullable=False),  # watchlist | policy | risk_areas
    Column("version", String(64), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("username", String(64), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("document", JSON, nullable=False),  # the push message as published
    Index("pushes_what", "what", "id"),
)

registrations = Table(
    "registrations",
    metadata,
    Column("pseudonym", String(64), primary_key=True),  # one registration per person: the newest import wins
    Column("id_masked", String(36), nullable=False),
    Column("plate", String(16)),
    Column("origin", String(6)),
    Column("destination", String(12), nullable=False),  # a county, township or community code
    Column("expected", Date, nullable=False),  # the day the traveller said they would arrive
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Column("batch", String(64), nullable=False),  # the version of the push that first carried it
    Column("username", String(64), nullable=False),
    Index("registrations_expected", "expected"),
    Index("registrations_destination", "destination", "expected"),
)
"""Pre-registrations (报备, central.registrations): neither the ID number nor the name is kept."""

collectors = Table(
    "collectors",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("handled", Integer, nullable=False),
    Column("last_commit_at", DateTime(timezone=True), nullable=False),
)
"""One row per collector replica: what it committed, and when last, for the fleet page."""

# a node's path: the codes from the root down, each followed by "/" (central.regions). Compared
# byte by byte (PostgreSQL's "C" collation), so a subtree is one index range.
PATH = String(400).with_variant(String(400, collation="C"), "postgresql")

regions = Table(
    "regions",
    metadata,
    Column("code", String(20), primary_key=True),  # GB/T 2260 and statistical codes, or a deployment's own
    Column("name", String(100), nullable=False),
    Column("parent", String(20)),  # null for the root only
    Column("path", PATH, nullable=False),
    Index("regions_path", "path"),
    Index("regions_parent", "parent"),
)
"""The jurisdictions' tree (central.regions); the root, code "0", is the whole deployment."""

sites = Table(
    "sites",
    metadata,
    Column("site", String(32), primary_key=True),
    Column("region", String(20), nullable=False),
    Index("sites_region", "region"),
)
"""The node each checkpoint stands at: what it records belongs to that node's office and those above."""

releases = Table(
    "releases",
    metadata,
    Column("version", String(64), primary_key=True),
    Column("platform", String(16), nullable=False),
    Column("manifest_sha256", String(64), nullable=False),  # what an update downlink pins
    Column("files", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("built_at", DateTime(timezone=True), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("added_by", String(64), nullable=False),
)
"""Releases of the box software central serves (their files in `releases_dir`/<version>/)."""

rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(64), nullable=False),  # a release central holds
    Column("target", JSON, nullable=False),  # {"site", "devices", "percent"} as the admin chose it
    Column("waves", JSON, nullable=False),  # the boxes of each wave, canaries first (central.rollout.plan)
    Column("wave", Integer, nullable=False),  # the wave under way
    Column("max_failed_percent", Integer, nullable=False),  # more failures than this in a wave: pause
    Column("state", String(16), nullable=False),  # running | paused | done | cancelled
    Column("reason", Text, nullable=False, server_default=""),  # why it paused
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""Staged rollouts of a release to the boxes (central.rollout)."""

rollout_boxes = Table(
    "rollout_boxes",
    metadata,
    Column("rollout", Integer, primary_key=True),
    Column("device", String(32), primary_key=True),
    Column("site", String(32), nullable=False),
    Column("wave", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # pending | sent | updated | failed
    Column("reason", Text, nullable=False, server_default=""),
    Column("sent_at", DateTime(timezone=True)),
    Index("rollout_boxes_wave", "rollout", "wave"),
)
"""Each box of a rollout: its wave, whether the update was sent, and how it ended."""

rejections = Table(
    "rejections",
    metadata,
    Column("device", String(64), primary_key=True),
    Column("reason", String(300), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("first_at", DateTime(timezone=True), nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
)
"""Messages of a registered box that central rejected, counted per device and reason: a revoked or
misconfigured box sends the same messages again and again (it never gets a receipt), and storing
each would grow the dead letters without bound. The first of each kind is kept as a dead letter."""

# the pending states of an obligation (central.obligation_state.PENDING)
PENDING_OBLIGATION = text("state IN ('open', 'overdue')")
OPEN_OBLIGATION = text("state = 'open'")  # what the overdue scan looks at

obligations = Table(
    "obligations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, nullable=False),
    Column("verdict_id", String(36)),  # the verdict that prescribed it (null: opened by an import or by staff)
    Column("pseudonym", String(64)),  # the traveller's, for the evidence that names them
    Column("kind", String(24), nullable=False),  # a FollowUp value: test_on_arrival, isolation_transfer, ...
    Column("node", String(20), nullable=False),  # the office that owes it (a region code)
    Column("destination", String(20), nullable=False),  # the office whose community boxes prove an arrival
    Column("site", String(32), nullable=False),  # the checkpoint where it was prescribed
    Column("state", String(8), nullable=False),  # open | done | overdue | waived
    Column("opened_at", DateTime(timezone=True), nullable=False),  # when the traveller passed
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("overdue_at", DateTime(timezone=True)),  # when central found it overdue: the live feed reads by it
    Column("closed_at", DateTime(timezone=True)),
    Column("late", Boolean, nullable=False, server_default=text("false")),  # done after it went overdue
    Column("proof", String(16)),  # arrival | test_result | staff, once done
    Column("evidence", JSON),  # what closed or waived it: the verdict, the result line, the note, who
    # a verdict prescribes each follow-up once, however often it is delivered and to whichever replica
    Index("obligations_prescribed", "verdict_id", "kind", unique=True),
    # a person owes each follow-up once at a time: a second checkpoint's verdict does not double it
    Index("obligations_pending_kind", "case_id", "kind", unique=True,
          sqlite_where=PENDING_OBLIGATION, postgresql_where=PENDING_OBLIGATION),
    Index("obligations_due", "deadline", sqlite_where=OPEN_OBLIGATION, postgresql_where=OPEN_OBLIGATION),  # the scan
    Index("obligations_worklist", "node", "deadline",
          sqlite_where=PENDING_OBLIGATION, postgresql_where=PENDING_OBLIGATION),  # one office's own
    # a county's or a city's worklist: every pending one by urgency, the scope checked on the way
    Index("obligations_pending_deadline", "deadline", "id", "node",
          sqlite_where=PENDING_OBLIGATION, postgresql_where=PENDING_OBLIGATION),
    Index("obligations_person", "pseudonym", sqlite_where=PENDING_OBLIGATION, postgresql_where=PENDING_OBLIGATION),
    Index("obligations_case", "case_id"),
    Index("obligations_overdue_at", "overdue_at", sqlite_where=text("overdue_at IS NOT NULL"),
          postgresql_where=text("overdue_at IS NOT NULL")),
)
"""What the office owes after a verdict (central.obligations): opened in the transaction that stores
the verdict, closed by evidence, marked overdue by the scheduler of any replica."""

result_imports = Table(
    "result_imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, unique=True),  # the file's: importing it again is a no-op
    Column("filename", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("username", String(64), nullable=False),
    Column("lines", Integer, nullable=False),
    Column("matched", Integer, nullable=False),
)

test_results = Table(
    "test_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("import_id", Integer, nullable=False),
    Column("line", Integer, nullable=False),  # in the file as the office's program numbers it
    Column("pseudonym", String(64), nullable=False),  # keyed on import: the ID number is never stored
    Column("id_masked", String(36), nullable=False),
    Column("sampled_at", DateTime(timezone=True), nullable=False),
    Column("result", String(16), nullable=False),  # negative | positive
    Column("obligation_id", Integer),  # the 落地检 it closed; null: reported unmatched, kept
    Index("test_results_sample", "pseudonym", "sampled_at", unique=True),  # a sample counts once, in any file
    Index("test_results_import", "import_id", "line"),
)
"""Every line of every test-result file imported, matched or not (central.results)."""

device_metrics = Table(
    "device_metrics",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("device", String(32), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("outbox_depth", Integer, nullable=False),
    Column("outbox_capacity", Integer, nullable=False),
    Column("cpu_percent", Float),
    Column("cpu_temp_c", Float),
    Column("disk_free_mb", Float),
    Index("device_metrics_device_received", "device", "received_at"),
)
"""Each box's metrics messages as they arrived, for the charts on its page; kept for
`retention.metrics_days` (device_status.metrics holds only the newest)."""

diagnostics = Table(
    "diagnostics",
    metadata,
    Column("id", String(36), primary_key=True),  # the request's id, which the box's answer names
    Column("device", String(32), nullable=False),
    Column("site", String(32), nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("log_lines", Integer, nullable=False),  # how many were asked for
    Column("answered_at", DateTime(timezone=True)),  # null while the box has not answered
    Column("answer", JSON),  # the box's doctor report and log lines (contract.messages.Diagnostics, unsigned)
    Index("diagnostics_device_requested", "device", "requested_at"),
)
"""An admin's diagnostics requests to a box and the box's answers (central.diagnostics); kept for
`retention.diagnostics_days`."""

export_jobs = Table(
    "export_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner", Integer, nullable=False),  # the user's id: no one else gets the job or its file
    Column("area", String(20), nullable=False),  # the owner's area when it started: theirs no longer, no file
    Column("key", String(200), nullable=False),  # what it builds: the export, its format, parameters, language
    Column("name", String(200), nullable=False),  # the file's name, without the format
    Column("fmt", String(8), nullable=False),
    Column("state", String(16), nullable=False),  # running | done | failed
    Column("done", Integer, nullable=False),  # rows written
    Column("total", Integer, nullable=False),  # rows to write; 0 while they are read
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("error", String(300)),
    Column("body", LargeBinary),  # the file, once done
    Index("export_jobs_owner_key", "owner", "key", "started_at"),
    Index("export_jobs_started", "started_at"),
)
"""Exports built in the background (central.export_jobs), their files kept in the database so that
any replica answers the download; deleted after `exports.keep_s`."""

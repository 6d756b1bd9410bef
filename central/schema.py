"""Central's tables (SQLAlchemy Core). Alembic migrations in central/migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

verdicts = Table(
    "verdicts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("site", String(32), nullable=False),
    Column("device", String(32), nullable=False),
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
    Index("verdicts_device_seq", "device", "seq"),
    Index("verdicts_received", "received_at"),
    Index("verdicts_flagged_time", "flagged", "device_time"),
    Index("verdicts_site_time", "site", "device_time"),
    Index("verdicts_pseudonym", "pseudonym"),
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
    Column("boot", Integer, nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("software", String(64)),
    Column("policy_version", String(64)),
    Column("policy_rejected", Text),
    Column("health", JSON),
    Column("metrics", JSON),
)

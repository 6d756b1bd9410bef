"""Verdicts, dead letters, the device registry and device status.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verdicts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("device", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("boot", sa.Integer, nullable=False),
        sa.Column("device_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clock_synced", sa.Boolean, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("flagged", sa.Boolean, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("follow_up", sa.JSON, nullable=False),
        sa.Column("pseudonym", sa.String(64)),
        sa.Column("id_masked", sa.String(36)),
        sa.Column("colour", sa.String(8)),
        sa.Column("colour_source", sa.String(16)),
        sa.Column("body_c", sa.Float),
        sa.Column("plate", sa.String(16)),
        sa.Column("origin", sa.String(6)),
        sa.Column("destination", sa.String(120)),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("overridden", sa.Boolean, nullable=False),
        sa.Column("supersedes", sa.String(36)),
        sa.Column("replayed", sa.Boolean, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    op.create_index("verdicts_device_seq", "verdicts", ["device", "seq"])
    op.create_index("verdicts_received", "verdicts", ["received_at"])
    op.create_index("verdicts_flagged_time", "verdicts", ["flagged", "device_time"])
    op.create_index("verdicts_site_time", "verdicts", ["site", "device_time"])
    op.create_index("verdicts_pseudonym", "verdicts", ["pseudonym"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "devices",
        sa.Column("device", sa.String(32), primary_key=True),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key_hex", sa.String(64), nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "device_status",
        sa.Column("device", sa.String(32), primary_key=True),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("boot", sa.Integer, nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("software", sa.String(64)),
        sa.Column("policy_version", sa.String(64)),
        sa.Column("policy_rejected", sa.Text),
        sa.Column("health", sa.JSON),
        sa.Column("metrics", sa.JSON),
    )


def downgrade() -> None:
    for table in ("device_status", "devices", "dead_letters", "verdicts"):
        op.drop_table(table)

"""Remote diagnostics: each box's metrics history, and admins' diagnostics requests with the answers.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_metrics",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("device", sa.String(32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outbox_depth", sa.Integer, nullable=False),
        sa.Column("outbox_capacity", sa.Integer, nullable=False),
        sa.Column("cpu_percent", sa.Float),
        sa.Column("cpu_temp_c", sa.Float),
        sa.Column("disk_free_mb", sa.Float),
    )
    op.create_index("device_metrics_device_received", "device_metrics", ["device", "received_at"])
    op.create_table(
        "diagnostics",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("device", sa.String(32), nullable=False),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_lines", sa.Integer, nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("answer", sa.JSON),
    )
    op.create_index("diagnostics_device_requested", "diagnostics", ["device", "requested_at"])


def downgrade() -> None:
    op.drop_table("diagnostics")
    op.drop_table("device_metrics")

"""Staged rollouts of releases, and each box's last update as it reported it.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("device_status", sa.Column("software_update", sa.JSON))
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("target", sa.JSON, nullable=False),
        sa.Column("waves", sa.JSON, nullable=False),
        sa.Column("wave", sa.Integer, nullable=False),
        sa.Column("max_failed_percent", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "rollout_boxes",
        sa.Column("rollout", sa.Integer, primary_key=True),
        sa.Column("device", sa.String(32), primary_key=True),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("wave", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_index("rollout_boxes_wave", "rollout_boxes", ["rollout", "wave"])


def downgrade() -> None:
    op.drop_table("rollout_boxes")
    op.drop_table("rollouts")
    op.drop_column("device_status", "software_update")

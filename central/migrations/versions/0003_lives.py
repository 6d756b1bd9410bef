"""A box's lives: verdicts and sequence counters per (device, epoch); statuses ordered by the box's
own counters instead of its clock; identity conflicts and clock offsets on the device status.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _count(name: str, default: str | None = None) -> sa.Column:
    return sa.Column(name, sa.Integer, nullable=False, server_default=default)


def upgrade() -> None:
    with op.batch_alter_table("verdicts") as batch:
        batch.add_column(sa.Column("epoch", sa.String(16), nullable=False, server_default=""))
        batch.drop_index("verdicts_device_seq")
        batch.create_index("verdicts_device_seq", ["device", "epoch", "seq"])
    with op.batch_alter_table("device_status") as batch:
        batch.add_column(sa.Column("epoch", sa.String(16)))
        batch.add_column(_count("connection", "0"))
        batch.add_column(_count("order_n", "0"))
        batch.add_column(sa.Column("clock_offset_s", sa.Float))
        batch.add_column(sa.Column("conflict", sa.JSON))
    op.create_table(
        "device_lives",
        sa.Column("device", sa.String(32), primary_key=True),
        sa.Column("epoch", sa.String(16), primary_key=True),
        sa.Column("site", sa.String(32), nullable=False),
        _count("max_seq", "0"),
        _count("stored", "0"),
        _count("produced", "0"),
        sa.Column("last_verdict_at", sa.DateTime(timezone=True)),
        _count("boot", "0"),
        _count("connection", "0"),
        _count("order_n", "0"),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("refused", sa.Boolean, nullable=False, server_default=sa.text("false")),
    )
    op.execute(
        "INSERT INTO device_lives (device, epoch, site, max_seq, stored, produced, last_verdict_at, first_seen) "
        "SELECT device, '', site, max_seq, stored, max_seq, last_verdict_at, last_verdict_at FROM device_seq"
    )
    op.execute("UPDATE device_status SET epoch = ''")
    op.drop_table("device_seq")


def downgrade() -> None:
    op.create_table(
        "device_seq",
        sa.Column("device", sa.String(32), primary_key=True),
        sa.Column("site", sa.String(32), nullable=False),
        _count("max_seq"),
        _count("stored"),
        sa.Column("last_verdict_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        "INSERT INTO device_seq (device, site, max_seq, stored, last_verdict_at) "
        "SELECT device, min(site), max(max_seq), sum(stored), max(last_verdict_at) FROM device_lives "
        "WHERE last_verdict_at IS NOT NULL GROUP BY device"
    )
    op.drop_table("device_lives")
    with op.batch_alter_table("device_status") as batch:
        for column in ("conflict", "clock_offset_s", "order_n", "connection", "epoch"):
            batch.drop_column(column)
    with op.batch_alter_table("verdicts") as batch:
        batch.drop_index("verdicts_device_seq")
        batch.create_index("verdicts_device_seq", ["device", "seq"])
        batch.drop_column("epoch")

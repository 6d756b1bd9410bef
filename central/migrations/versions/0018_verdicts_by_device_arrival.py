"""Verdicts: one box's by arrival, for its newest first (GET /api/verdicts?device=): ordered by
sequence, PostgreSQL sorted all of a box's verdicts for each request (300 ms p95 at 20,000 a box,
bench/bench_central.py), and the sequence alone mixed the box's lives.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("verdicts_device_arrival", "verdicts", ["device", "received_at", "seq"])


def downgrade() -> None:
    op.drop_index("verdicts_device_arrival", "verdicts")

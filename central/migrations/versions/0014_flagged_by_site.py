"""Verdicts: the flagged ones of each checkpoint by arrival, for the live feed of an office below the
root: it asks for the newest flagged verdicts of its own checkpoints, which PostgreSQL otherwise
finds by ANDing the checkpoints' verdicts with every flagged verdict of the province (seconds at ten
million verdicts, bench/bench_dashboard.py).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("verdicts_flagged_site", "verdicts", ["site", "received_at"],
                    sqlite_where=sa.text("flagged IS 1"), postgresql_where=sa.text("flagged IS true"))


def downgrade() -> None:
    op.drop_index("verdicts_flagged_site", "verdicts")

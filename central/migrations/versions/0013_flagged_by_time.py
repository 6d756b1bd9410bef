"""Verdicts: the flagged ones by device time, for the daily report (its reasons and transfers are read
from the day's flagged verdicts). Without it a province's report reads the whole (site, device time)
index to find one day's flagged verdicts: at ten million verdicts that is most of a second.

The predicate is written as the queries write it (`flagged IS true` on PostgreSQL, `flagged IS 1` on
SQLite), so that both planners see the index covers them.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("verdicts_flagged_time", "verdicts", ["device_time"],
                    sqlite_where=sa.text("flagged IS 1"), postgresql_where=sa.text("flagged IS true"))


def downgrade() -> None:
    op.drop_index("verdicts_flagged_time", "verdicts")

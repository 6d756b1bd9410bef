"""Daily figures by day: the figures page, its export and the daily report read a day (or a range) of
every checkpoint, which the primary key (site, day) cannot give in order; the table is never purged
(a province's 2,000 checkpoints add 730,000 rows a year), so without this each read scanned all of it
(bench/bench_dashboard.py).

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("daily_figures_day", "daily_figures", ["day", "site"])


def downgrade() -> None:
    op.drop_index("daily_figures_day", "daily_figures")

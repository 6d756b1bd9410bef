"""Export jobs: a province's exports (cases, figures, the daily report) take seconds to write, so they
are built in the background and downloaded when ready (central.export_jobs); the files are kept here
for any replica to hand out.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.Integer, nullable=False),
        sa.Column("area", sa.String(20), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("fmt", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("done", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.String(300)),
        sa.Column("body", sa.LargeBinary),
    )
    op.create_index("export_jobs_owner_key", "export_jobs", ["owner", "key", "started_at"])
    op.create_index("export_jobs_started", "export_jobs", ["started_at"])


def downgrade() -> None:
    op.drop_table("export_jobs")

"""Obligations: the pending ones in order of urgency, so that a county's worklist reads its first
page from an index instead of sorting every pending obligation of the county; the overdue scan's
index holds the open ones only.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

PENDING = sa.text("state IN ('open', 'overdue')")
OPEN = sa.text("state = 'open'")


def upgrade() -> None:
    op.drop_index("obligations_due", "obligations")
    op.create_index("obligations_due", "obligations", ["deadline"], sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index("obligations_pending_deadline", "obligations", ["deadline", "id", "node"],
                    sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade() -> None:
    op.drop_index("obligations_pending_deadline", "obligations")
    op.drop_index("obligations_due", "obligations")
    op.create_index("obligations_due", "obligations", ["state", "deadline"])

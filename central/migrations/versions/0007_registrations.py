"""Pre-registrations (报备): travellers who registered with their destination in advance, by pseudonym.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("pseudonym", sa.String(64), primary_key=True),
        sa.Column("id_masked", sa.String(36), nullable=False),
        sa.Column("plate", sa.String(16)),
        sa.Column("origin", sa.String(6)),
        sa.Column("destination", sa.String(12), nullable=False),
        sa.Column("expected", sa.Date, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
    )
    op.create_index("registrations_expected", "registrations", ["expected"])
    op.create_index("registrations_destination", "registrations", ["destination", "expected"])


def downgrade() -> None:
    op.drop_table("registrations")

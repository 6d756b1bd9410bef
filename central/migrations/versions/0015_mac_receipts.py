"""Device status: whether the box's last status said it checks receipts MAC'd with its own key
(contract.signing), so that central MACs its receipts (2 µs) rather than signs them (80 µs).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("device_status",
                  sa.Column("mac_receipts", sa.Boolean, nullable=False, server_default=sa.text("false")))


def downgrade() -> None:
    op.drop_column("device_status", "mac_receipts")

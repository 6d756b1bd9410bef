"""Jurisdictions: the region tree, the node of each checkpoint and of each user. Every checkpoint
already known and every user stand at the root, so a single-office deployment works as before.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PATH = sa.String(400).with_variant(sa.String(400, collation="C"), "postgresql")


def upgrade() -> None:
    regions = op.create_table(
        "regions",
        sa.Column("code", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("parent", sa.String(20)),
        sa.Column("path", PATH, nullable=False),
    )
    op.create_index("regions_path", "regions", ["path"])
    op.create_index("regions_parent", "regions", ["parent"])
    op.bulk_insert(regions, [{"code": "0", "name": "全部辖区", "parent": None, "path": "0/"}])
    op.create_table(
        "sites",
        sa.Column("site", sa.String(32), primary_key=True),
        sa.Column("region", sa.String(20), nullable=False),
    )
    op.create_index("sites_region", "sites", ["region"])
    op.execute(
        "INSERT INTO sites (site, region) SELECT site, '0' FROM "
        "(SELECT site FROM devices UNION SELECT site FROM device_lives UNION SELECT site FROM daily_figures "
        "UNION SELECT first_site FROM cases) AS known"
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("region", sa.String(20), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("region")
    op.drop_table("sites")
    op.drop_table("regions")

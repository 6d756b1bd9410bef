"""Follow-up obligations on cases, the test-result imports that close them, and overdue alerts.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PENDING = sa.text("state IN ('open', 'overdue')")


def upgrade() -> None:
    op.create_table(
        "obligations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, nullable=False),
        sa.Column("verdict_id", sa.String(36)),
        sa.Column("pseudonym", sa.String(64)),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("node", sa.String(20), nullable=False),
        sa.Column("destination", sa.String(20), nullable=False),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("overdue_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("late", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("proof", sa.String(16)),
        sa.Column("evidence", sa.JSON),
    )
    op.create_index("obligations_prescribed", "obligations", ["verdict_id", "kind"], unique=True)
    op.create_index("obligations_pending_kind", "obligations", ["case_id", "kind"], unique=True,
                    sqlite_where=PENDING, postgresql_where=PENDING)
    op.create_index("obligations_due", "obligations", ["state", "deadline"])
    op.create_index("obligations_worklist", "obligations", ["node", "deadline"],
                    sqlite_where=PENDING, postgresql_where=PENDING)
    op.create_index("obligations_person", "obligations", ["pseudonym"], sqlite_where=PENDING, postgresql_where=PENDING)
    op.create_index("obligations_case", "obligations", ["case_id"])
    overdue = sa.text("overdue_at IS NOT NULL")
    op.create_index("obligations_overdue_at", "obligations", ["overdue_at"],
                    sqlite_where=overdue, postgresql_where=overdue)
    op.create_table(
        "result_imports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("matched", sa.Integer, nullable=False),
    )
    op.create_table(
        "test_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("import_id", sa.Integer, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("id_masked", sa.String(36), nullable=False),
        sa.Column("sampled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("obligation_id", sa.Integer),
    )
    op.create_index("test_results_sample", "test_results", ["pseudonym", "sampled_at"], unique=True)
    op.create_index("test_results_import", "test_results", ["import_id", "line"])
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("obligation_id", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("obligation_id")
    op.drop_table("test_results")
    op.drop_table("result_imports")
    op.drop_table("obligations")

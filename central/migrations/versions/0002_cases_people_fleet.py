"""Cases and alerts, users, sessions and the audit log, pushes, sequence tracking, daily figures.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OPEN = sa.text("closed_at IS NULL")
LINKED = sa.text("case_id IS NOT NULL")


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer, nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("verdicts") as batch:
        batch.add_column(sa.Column("case_id", sa.Integer))
        batch.drop_index("verdicts_flagged_time")  # the live feed and the flagged list go by arrival
        batch.create_index("verdicts_flagged_received", ["flagged", "received_at"])
        batch.create_index("verdicts_case", ["case_id"], sqlite_where=LINKED, postgresql_where=LINKED)
    with op.batch_alter_table("device_status") as batch:
        batch.add_column(_at("device_time", nullable=True))

    op.create_table(
        "device_seq",
        sa.Column("device", sa.String(32), primary_key=True),
        sa.Column("site", sa.String(32), nullable=False),
        _count("max_seq"),
        _count("stored"),
        _at("last_verdict_at"),
    )
    op.create_table(
        "daily_figures",
        sa.Column("site", sa.String(32), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        *(_count(c) for c in ("total", "passed", "review", "deny", "fever", "code_yellow", "code_red",
                              "watchlist", "overridden")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pseudonym", sa.String(64)),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        _at("opened_at"),
        _at("updated_at"),
        _at("closed_at", nullable=True),
        _at("first_seen"),
        sa.Column("first_site", sa.String(32), nullable=False),
        sa.Column("first_device", sa.String(32), nullable=False),
        _at("last_seen"),
        sa.Column("last_site", sa.String(32), nullable=False),
        _count("verdicts"),
        sa.Column("id_masked", sa.String(36)),
        sa.Column("identity", sa.JSON),
        sa.Column("plate", sa.String(16)),
        sa.Column("origin", sa.String(6)),
        sa.Column("destination", sa.String(120)),
        sa.Column("transfer_kind", sa.String(16)),
        sa.Column("transfer_to", sa.String(200)),
        sa.Column("assignee", sa.String(64)),
    )
    op.create_index("cases_status_opened", "cases", ["status", "opened_at"])
    op.create_index("cases_closed", "cases", ["closed_at"])
    op.create_index("cases_open_pseudonym", "cases", ["pseudonym"], unique=True,
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, nullable=False),
        _at("at"),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("case_events_case", "case_events", ["case_id", "id"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        _at("created_at"),
        _at("next_at"),
        _at("lease_until", nullable=True),
        _count("attempts"),
        _at("delivered_at", nullable=True),
        sa.Column("gave_up", sa.Boolean, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("alerts_due", "alerts", ["delivered_at", "gave_up", "next_at"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        _at("created_at"),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        _at("created_at"),
        _at("expires_at"),
    )
    op.create_index("sessions_expires", "sessions", ["expires_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _at("at"),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
    )
    op.create_index("audit_at", "audit_log", ["at"])
    op.create_table(
        "pushes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("what", sa.String(16), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        _at("issued_at"),
        sa.Column("username", sa.String(64), nullable=False),
        _count("entries"),
        sa.Column("document", sa.JSON, nullable=False),
    )
    op.create_index("pushes_what", "pushes", ["what", "id"])
    op.create_table(
        "collectors",
        sa.Column("client_id", sa.String(64), primary_key=True),
        _count("handled"),
        _at("last_commit_at"),
    )


def downgrade() -> None:
    for table in ("collectors", "pushes", "audit_log", "sessions", "users", "alerts", "case_events", "cases",
                  "daily_figures", "device_seq"):
        op.drop_table(table)
    with op.batch_alter_table("device_status") as batch:
        batch.drop_column("device_time")
    with op.batch_alter_table("verdicts") as batch:
        batch.drop_index("verdicts_case")
        batch.drop_index("verdicts_flagged_received")
        batch.create_index("verdicts_flagged_time", ["flagged", "device_time"])
        batch.drop_column("case_id")

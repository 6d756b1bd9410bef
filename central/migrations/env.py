"""Alembic environment: migrations run on the connection central hands in (see central.store)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from central.schema import metadata

connection = context.config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:  # the `alembic` command line, with sqlalchemy.url set in its configuration
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()

"""Alembic environment: runs on the connection facegate hands it (or the configured URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from facegate.db import Base, all_tables

config = context.config
assert all_tables.MODULES  # every table is registered on Base.metadata
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None  # facegate.db.engine.alembic_config always sets it
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()

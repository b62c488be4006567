"""Alembic environment for the camstudy survey database.

Run through ``camstudy db upgrade`` (which sets the URL); plain ``alembic`` works too
with ``-x url=...`` or ``DATABASE_URL``.
"""
from __future__ import annotations

import os

from alembic import context

from webapp.data.engine import make_engine
from webapp.data.tables import Base

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    ) or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("no database URL: use `camstudy db upgrade` or set DATABASE_URL")
    return url


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(database_url())
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode copies a table and drops the original: with foreign keys on, SQLite
            # would cascade that drop into every trial and answer (PRAGMA works outside a
            # transaction only, hence before it begins).
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            connection.rollback()
            if broken:
                raise RuntimeError(f"foreign keys broken after the migration: {broken[:5]}")
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

"""Alembic glue: where the migrations live, upgrading, and the start-up schema check.

The migrations sit at the repository root (``migrations/`` beside ``webapp/``) and are
found relative to this file, which works from a source checkout and an editable
install (``pip install -e .``). ``CAMSTUDY_MIGRATIONS`` points elsewhere if needed.
"""
from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

FIX = "camstudy db upgrade"


class SchemaError(RuntimeError):
    """The database schema is not the one this code expects."""


def migrations_dir() -> Path:
    env = os.environ.get("CAMSTUDY_MIGRATIONS")
    path = Path(env) if env else Path(__file__).resolve().parent.parent / "migrations"
    if not (path / "env.py").is_file():
        raise SchemaError(
            f"Alembic migrations not found at {path} (expected env.py there). "
            "Install camstudy from a source checkout (pip install -e .) or set CAMSTUDY_MIGRATIONS."
        )
    return path


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def head_revisions(url: str) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def current_revisions(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def check_schema(engine: sa.Engine) -> None:
    """Raise SchemaError, naming the fix, unless the database is at the latest revision."""
    url = engine.url.render_as_string(hide_password=False)
    heads = head_revisions(url)
    try:
        current = current_revisions(engine)
    except sa.exc.OperationalError as exc:
        raise SchemaError(f"cannot open the database {engine.url!r}: {exc.orig}") from exc
    if not current:
        raise SchemaError(
            f"the database {engine.url!r} has no schema (no camstudy tables yet). If it is the one you "
            f"meant, run `{FIX}` with the same --database-url or DATABASE_URL to create the tables; "
            "otherwise point at another database with --database-url URL or the DATABASE_URL "
            "environment variable (`camstudy demo` keeps its database at sqlite:///demo-out/survey.sqlite)"
        )
    if current != heads:
        found = ", ".join(sorted(current)) or "no schema"
        raise SchemaError(
            f"the database {engine.url!r} is at {found} but this camstudy expects "
            f"{', '.join(sorted(heads))}; run `{FIX}` (with the same DATABASE_URL) to update it"
        )

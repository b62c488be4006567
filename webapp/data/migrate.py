"""Alembic glue: where the migrations live, upgrading, and the start-up schema check.

The migrations sit at the repository root (``migrations/`` beside ``webapp/``) and are
found relative to this file, which works from a source checkout and an editable
install (``pip install -e .``). ``CAMSTUDY_MIGRATIONS`` points elsewhere if needed.
"""
from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from webapp.data.engine import make_engine
from webapp.errors import SchemaError

FIX = "camstudy db upgrade"


def migrations_dir() -> Path:
    env = os.environ.get("CAMSTUDY_MIGRATIONS")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "migrations"
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


def unknown_revisions(url: str, current: set[str]) -> set[str]:
    """The database's revisions that these migrations do not contain (a newer camstudy's)."""
    script = ScriptDirectory.from_config(alembic_config(url))
    known = {rev.revision for rev in script.walk_revisions()}
    return current - known


def newer_message(shown: str, current: set[str], heads: set[str]) -> str:
    return (f"the database {shown} is at revision {', '.join(sorted(current))}, which is newer than this "
            f"camstudy knows (its latest is {', '.join(sorted(heads))}): it was migrated by a newer camstudy. "
            "Use that camstudy with this database, or restore a backup taken before it migrated; "
            "this version must not change the schema")


def check_schema(engine: sa.Engine) -> None:
    """Raise SchemaError, naming the fix, unless the database is at the latest revision."""
    url = engine.url.render_as_string(hide_password=False)
    heads = head_revisions(url)
    try:
        current = current_revisions(engine)
    except sa.exc.OperationalError as exc:
        raise SchemaError(f"cannot open the database {engine.url!r}: {exc.orig}") from exc
    if unknown_revisions(url, current):
        raise SchemaError(newer_message(repr(engine.url), current, heads))
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


# --------------------------------------------------------------------------- before a downgrade


def checked_engine(url: str) -> sa.Engine:
    """An engine on ``url`` whose schema is the latest; raises ``SchemaError`` (and
    disposes the engine) when it is not."""
    engine = make_engine(url)
    try:
        check_schema(engine)
    except SchemaError:
        engine.dispose()
        raise
    return engine


def answers_held(engine: sa.Engine) -> int:
    """How many answers the database holds (0 when it has no responses table)."""
    if "responses" not in sa.inspect(engine).get_table_names():
        return 0
    with engine.connect() as conn:
        return conn.scalar(sa.text("SELECT count(*) FROM responses")) or 0


def backup_sqlite(path: str) -> Path:
    """A consistent copy of a SQLite file (the backup API: safe while the app writes,
    includes what is still in the WAL), beside it, named with the time."""
    src = Path(path).resolve()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dst, n = src.with_name(f"{src.stem}.backup-{stamp}.sqlite3"), 1
    while dst.exists():  # never overwrite an earlier backup
        n += 1
        dst = src.with_name(f"{src.stem}.backup-{stamp}-{n}.sqlite3")
    source, target = sqlite3.connect(f"{src.as_uri()}?mode=ro", uri=True), sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return dst


def pg_dump_command(engine: sa.Engine) -> str:
    """The pg_dump line that backs this PostgreSQL database up (password from ~/.pgpass or PGPASSWORD)."""
    u = engine.url
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d")
    parts = ["pg_dump", "-Fc"] + [f"{flag} {value}" for flag, value in
                                  (("-h", u.host), ("-p", u.port), ("-U", u.username)) if value]
    return " ".join(parts + [u.database or "", f"> {u.database}-before-downgrade-{stamp}.dump"])

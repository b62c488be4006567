"""Reading the responses straight from the survey database, read-only.

The webapp owns the schema. Rather than depend on its tables, analysis reads a
table or view shaped exactly like the export (docs/formats.md, one row per
answer), by default named `responses_export`. The webapp's migrations create that
view (`camstudy db upgrade`); without it, use `camstudy export` and `--responses`.
"""
from __future__ import annotations

import pandas as pd

from analysis.errors import AnalysisError
from analysis.inputs.load import Responses, prepare

DEFAULT_VIEW = "responses_export"


def read_database(url: str, view: str = DEFAULT_VIEW) -> Responses:
    try:
        import sqlalchemy as sa
    except ImportError:  # pragma: no cover - sqlalchemy is a declared dependency
        raise AnalysisError("--db needs SQLAlchemy, which is not installed") from None
    engine = _read_only_engine(sa, url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            names = set(sa.inspect(conn).get_table_names()) | set(
                sa.inspect(conn).get_view_names())
            if view not in names:
                raise AnalysisError(
                    f"{shown}: no table or view named '{view}'. analysis reads answers from a "
                    "view shaped like responses.csv (docs/formats.md); `camstudy db upgrade` creates "
                    "it in the survey database, or run `camstudy export` and pass --responses instead"
                )
            table = sa.Table(view, sa.MetaData(), autoload_with=conn)
            frame = pd.read_sql(sa.select(table), conn)
    except sa.exc.SQLAlchemyError as exc:
        raise AnalysisError(f"{shown}: cannot read the database ({exc.__class__.__name__}: "
                            f"{str(exc).splitlines()[0]})") from None
    finally:
        engine.dispose()
    frame = frame.astype(object).where(frame.notna(), "").astype(str)
    return prepare(frame, f"{shown} ({view})")


def _read_only_engine(sa, url: str):
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise AnalysisError(f"--db {url!r} is not a database URL (e.g. sqlite:///camstudy.db)") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        import sqlite3

        # mode=ro makes SQLite itself refuse writes, and refuse to create a missing file.
        path = parsed.database

        def connect():
            try:
                return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            except sqlite3.OperationalError as exc:
                raise AnalysisError(f"{url}: cannot open the database read-only ({exc})") from None

        return sa.create_engine("sqlite://", creator=connect)
    return sa.create_engine(parsed)

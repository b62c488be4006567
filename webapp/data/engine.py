"""The survey database's engine (per-backend settings, the SQLite file guard) and one
session per request (``db.session``); the tables are in ``webapp.data.tables``.
"""
from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker


class SQLiteFileChanged(Exception):
    """The SQLite file the app opened is no longer at its path (removed or replaced)."""


class SQLiteFileGuard:
    """Refuses database work once the SQLite file the app opened has left its path.

    SQLite keeps writing to a deleted file through the connections that hold it open:
    answers would get 201 "saved" and vanish when the process stops. The guard pins the
    file's identity (device, inode) at the first connection and checks it on every pool
    checkout and after every commit; a mismatch raises an OperationalError, which the
    app answers with 503 (webapp/server/health.py), so nothing is acknowledged that is not in the
    file the operator configured. It also stops SQLite from creating an empty file in
    place of a removed one.

    It only stats the path, never opens the file: closing any other descriptor of a
    SQLite file drops the process's POSIX locks on it, and reading the header that way
    lost acknowledged answers under gunicorn. So a copy written over the file in place
    (same inode) is not detected; docs/deploying.md says to stop the server first.
    """

    def __init__(self, path: str, identity: str | None = None) -> None:
        self.path = path
        self.identity = identity  # "device:inode"; None until the first connection

    def current(self) -> str | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return f"{st.st_dev}:{st.st_ino}"

    def pin(self) -> None:
        if self.identity is None:
            self.identity = self.current()

    def changed(self) -> bool:
        return self.identity is not None and self.current() != self.identity

    def check(self) -> None:
        if self.identity is None:
            return
        now = self.current()
        if now != self.identity:
            what = "removed" if now is None else "replaced by another file"
            raise sa.exc.OperationalError(
                "SQLite file check", None, SQLiteFileChanged(
                    f"the SQLite file {self.path} was {what} while the app was running; nothing is "
                    "stored or acknowledged until it is restored and the server restarted"))

    def install(self, engine: sa.Engine) -> None:
        event.listen(engine, "do_connect", lambda *_: self.check())  # before SQLite could create a file
        event.listen(engine, "connect", lambda *_: self.pin())
        event.listen(engine, "checkout", lambda *_: self.check())


def sqlite_file(url: str) -> str | None:
    """The file behind a SQLite URL, or None (not SQLite, or in memory)."""
    u = sa.make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:" or u.query.get("uri"):
        return None
    return os.path.abspath(u.database)


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """An engine with the per-backend settings the survey relies on."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {}).update({"timeout": 30, "check_same_thread": False})
        engine = sa.create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            if sqlite_file(url):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=FULL")  # a commit is on disk before the answer is acknowledged
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _durable_commits)
    return engine


def _durable_commits(dbapi_conn, _record) -> None:  # noqa: ANN001
    """With ``synchronous_commit = off`` (a server or database default some tuning guides
    suggest), PostgreSQL reports a COMMIT before its WAL is flushed, and an answer already
    acknowledged can vanish in a crash. Such a session is set back to ``on``; stronger
    settings (``remote_apply``, ``remote_write``) and ``local`` are kept."""
    cur = dbapi_conn.cursor()
    cur.execute("SHOW synchronous_commit")
    if cur.fetchone()[0] == "off":
        cur.execute("SET synchronous_commit TO on")
    cur.close()
    dbapi_conn.commit()  # SET is transactional: keep it past the pool's reset-on-return rollback


class Database:
    """Each app's engine and the current request's session (``db.session``)."""

    def init_app(self, app: Flask) -> None:
        url = app.config["DATABASE_URL"]
        engine = make_engine(url)
        maker = sessionmaker(engine, expire_on_commit=False)
        path = sqlite_file(url)
        guard = SQLiteFileGuard(path, app.config.get("CAMSTUDY_SQLITE_FILE_ID")) if path else None
        if guard is not None:
            guard.install(engine)
            event.listen(maker, "after_commit", lambda _s: guard.check())  # committed to the file we opened?
        app.extensions["camstudy_db"] = (engine, maker, guard)
        app.teardown_appcontext(self._close_session)

    @property
    def engine(self) -> sa.Engine:
        return current_app.extensions["camstudy_db"][0]

    @property
    def session(self) -> Session:
        """One session per request (per app context), closed at teardown."""
        if "db_session" not in g:
            g.db_session = current_app.extensions["camstudy_db"][1]()
        return g.db_session

    @staticmethod
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


db = Database()

"""Nothing acknowledged is lost: the SQLite file removed or replaced under a running
server, destructive schema commands, a database migrated by a newer camstudy."""
from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.webapp.helpers import Walker
from webapp.cli import db_main
from webapp.data.migrate import upgrade


def answer_body() -> dict:
    return {"idempotency_key": secrets.token_hex(8),
            "answers": [{"question_id": q, "side": "A", "rt_ms": 900} for q in ("larger", "focused")]}


@pytest.fixture
def live_sqlite(make_app, sqlite_url, serve_live):
    """(app, base URL, database file, walker at the practice trial) on a real HTTP server."""
    app = make_app(sqlite_url)
    base = serve_live(app)
    w = Walker(app.test_client()).begin_lab_session("DUR1")
    return app, base, Path(sqlite_url.removeprefix("sqlite:///")), w


def post_answer(base: str, token: str, index: int) -> requests.Response:
    return requests.post(f"{base}/api/v1/participants/{token}/trials/{index}/answers", json=answer_body(), timeout=10)


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def test_sqlite_file_removed_under_the_server_gives_503_not_saved(live_sqlite):
    app, base, path, w = live_sqlite
    assert post_answer(base, w.token, -1).status_code == 201  # the practice trial, stored
    remove_database(path)
    r = post_answer(base, w.token, 0)
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] and "saved" not in r.text
    health = requests.get(f"{base}/healthz", timeout=10)
    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    assert not path.exists()  # the server did not quietly start an empty database in its place


def test_sqlite_file_replaced_under_the_server_gives_503(live_sqlite, tmp_path):
    app, base, path, w = live_sqlite
    other = tmp_path / "other.sqlite3"
    upgrade(f"sqlite:///{other}")  # a valid, empty database of the same schema
    remove_database(path)
    shutil.copy(other, path)
    assert post_answer(base, w.token, -1).status_code == 503
    assert requests.get(f"{base}/healthz", timeout=10).status_code == 503


# --------------------------------------------------------------------------- schema commands


def finished_participant(make_app, url: str) -> int:
    """One participant through the whole survey; returns how many answers are stored."""
    app = make_app(url)
    Walker(app.test_client()).begin_lab_session("KEEP1").finish()
    return count_answers(url)


def count_answers(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.text("SELECT count(*) FROM responses"))
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_db_downgrade_with_answers_refuses_without_the_flag(make_app, any_db_url, capsys):
    n = finished_participant(make_app, any_db_url)
    assert n > 0
    assert db_main(["downgrade", "base", "--database-url", any_db_url]) == 1
    err = capsys.readouterr().err
    assert f"{n} answers" in err and "--discard-answers" in err
    if any_db_url.startswith("postgresql"):
        assert "pg_dump" in err  # names the backup command
    assert count_answers(any_db_url) == n and "responses" in tables(any_db_url)


def test_db_downgrade_with_the_flag_backs_up_first(make_app, sqlite_url, capsys):
    n = finished_participant(make_app, sqlite_url)
    assert db_main(["downgrade", "base", "--discard-answers", "--database-url", sqlite_url]) == 0
    out = capsys.readouterr().out
    backups = [Path(word) for word in out.split() if word.endswith(".sqlite3") and "backup" in word]
    assert backups and backups[0].is_file(), out
    assert "responses" not in tables(sqlite_url)
    with sqlite3.connect(backups[0]) as conn:  # the backup holds every answer
        assert conn.execute("SELECT count(*) FROM responses").fetchone()[0] == n


@pytest.mark.postgres
def test_db_downgrade_on_postgres_names_pg_dump_before_dropping(make_app, postgres_url, capsys):
    from tests.webapp.helpers import reset_postgres

    reset_postgres(postgres_url)
    finished_participant(make_app, postgres_url)
    assert db_main(["downgrade", "base", "--discard-answers", "--database-url", postgres_url]) == 0
    out = capsys.readouterr().out
    assert "pg_dump" in out and "responses" not in tables(postgres_url)


def test_db_downgrade_without_answers_needs_no_flag(any_db_url, capsys):
    upgrade(any_db_url)
    assert db_main(["downgrade", "base", "--database-url", any_db_url]) == 0
    assert "responses" not in tables(any_db_url)


def newer_schema(url: str) -> None:
    upgrade(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeed9999'"))
    engine.dispose()


@pytest.mark.parametrize("argv", [["upgrade"], ["current"], ["downgrade", "base"]])
def test_newer_schema_gets_a_clear_message_from_db_commands(any_db_url, capsys, argv):
    newer_schema(any_db_url)
    assert db_main([*argv, "--database-url", any_db_url]) == 1
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "f00dfeed9999" in text and "newer" in text
    assert "Traceback" not in text and "camstudy db upgrade" not in text


def test_newer_schema_is_refused_by_the_app_without_advising_upgrade(any_db_url):
    from webapp.app import create_app
    from webapp.data.migrate import SchemaError, head_revisions

    newer_schema(any_db_url)
    with pytest.raises(SchemaError) as exc:
        create_app({"DATABASE_URL": any_db_url, "SECRET_KEY": "x"})
    message = str(exc.value)
    assert "f00dfeed9999" in message and next(iter(head_revisions(any_db_url))) in message
    assert "newer" in message and "db upgrade" not in message


def test_export_on_a_newer_schema_does_not_advise_upgrade(any_db_url, capsys, tmp_path):
    from webapp.cli import export_main

    newer_schema(any_db_url)
    assert export_main(["--out", str(tmp_path / "x.csv"), "--database-url", any_db_url]) == 1
    err = capsys.readouterr().err
    assert "f00dfeed9999" in err and "db upgrade" not in err


def test_a_commit_that_lands_in_a_removed_file_is_not_acknowledged(live_sqlite):
    """The file goes between the request's first query and its commit: the commit raises
    (and the API would answer 503), instead of reporting success."""
    from webapp.data.engine import db
    from webapp.data.tables import Participant

    app, base, path, w = live_sqlite
    with app.app_context():
        p = db.session.scalar(sa.select(Participant))  # connection checked out while the file is there
        remove_database(path)
        p.last_seen_at = p.created_at
        with pytest.raises(sa.exc.OperationalError, match="removed"):
            db.session.commit()


@pytest.mark.slow
def test_sqlite_file_replaced_under_serve_prod_gives_503_from_every_worker(make_app, sqlite_url, tmp_path):
    """gunicorn with two workers, one of them killed and replaced after the file was: the
    new worker must not adopt the replacement either."""
    import signal
    import time

    from tests.webapp.prod_server import start_prod

    app = make_app(sqlite_url)
    w = Walker(app.test_client()).begin_lab_session("DUR2")
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    server = start_prod(sqlite_url, tmp_path / "server.log", workers=2, threads=2)
    try:
        assert post_answer(server.url, w.token, -1).status_code == 201
        other = tmp_path / "other.sqlite3"
        upgrade(f"sqlite:///{other}")
        remove_database(path)
        shutil.copy(other, path)
        victim = server.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (victim in server.worker_pids() or len(server.worker_pids()) < 2) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert victim not in server.worker_pids() and len(server.worker_pids()) == 2
        codes = {post_answer(server.url, w.token, 0).status_code for _ in range(8)}  # both workers answer
        assert codes == {503}, codes
        assert {server.health()[0] for _ in range(8)} == {503}
        assert "was removed or replaced" in server.log.read_text()
    finally:
        server.stop()


@pytest.mark.postgres
def test_postgres_commits_are_durable_even_where_the_database_says_otherwise(postgres_url, make_app, make_study):
    """A database with `synchronous_commit = off` acknowledges before its WAL is flushed:
    the app's sessions set it back, so an answer is acknowledged only when on disk."""
    from tests.webapp.prod_server import drop_postgres, fresh_postgres

    from webapp.data.engine import db

    name = f"camstudy_sync_{secrets.token_hex(4)}"
    url = fresh_postgres(name)
    try:
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
            assert conn.scalar(sa.text("SHOW synchronous_commit")) == "on"  # this session predates it
        admin.dispose()
        plain = sa.create_engine(url)
        with plain.connect() as conn:
            assert conn.scalar(sa.text("SHOW synchronous_commit")) == "off"  # the attack: what a new session gets
        plain.dispose()
        app = make_app(url, make_study())
        with app.app_context():
            for _ in range(2):  # also after the pool's reset-on-return
                assert db.session.scalar(sa.text("SHOW synchronous_commit")) == "on"
                db.session.rollback()
    finally:
        drop_postgres(name)

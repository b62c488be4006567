"""Fixtures for the survey web app: a study directory (no torch), apps on SQLite or
PostgreSQL, an app on a real HTTP server, and a walker that takes a participant through
the survey."""
from __future__ import annotations

import secrets
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.webapp.helpers import Walker, build_study, migrate_and_import, reset_postgres, serving


@pytest.fixture
def make_study(tmp_path: Path) -> Callable[..., Path]:
    def make(**kwargs: Any) -> Path:
        root = tmp_path / f"studies{secrets.token_hex(3)}"
        return build_study(root, **kwargs)

    return make


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'survey.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on SQLite and on PostgreSQL (skipped locally without a server)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'survey.sqlite3'}"
    url = request.getfixturevalue("postgres_url")
    reset_postgres(url)
    return url


@pytest.fixture
def make_app(make_study: Callable[..., Path]):
    """make_app(db_url, study_dir=None, **config): migrated database, study imported."""
    engines = []

    def make(db_url: str, study_dir: Path | None = None, **config: Any):
        from webapp.app import create_app, db_engine

        migrate_and_import(db_url, study_dir or make_study())
        app = create_app({
            "TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_URL": db_url,
            "RATELIMIT_ENABLED": False, **config,
        })
        engines.append(db_engine(app))
        return app

    yield make
    for e in engines:
        e.dispose()


@pytest.fixture
def serve_live() -> Callable[[Any], str]:
    """serve_live(app) -> base URL: the app on a real HTTP server in a thread, on a free port
    of 127.0.0.1, until the test ends."""
    from werkzeug.serving import make_server

    with ExitStack() as servers:
        def serve(app) -> str:
            server = servers.enter_context(serving(make_server("127.0.0.1", 0, app, threaded=True)))
            return f"http://127.0.0.1:{server.server_port}"

        yield serve


@pytest.fixture
def app(make_app, sqlite_url):
    return make_app(sqlite_url)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def walker(client) -> Walker:
    return Walker(client)

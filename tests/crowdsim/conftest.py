"""The simulator's tests run it against the survey: webapp's test fixtures (a small
study without torch, an app on SQLite or PostgreSQL, a lab session walker)."""
from tests.webapp.conftest import any_db_url, app, client, make_app, make_study, sqlite_url, walker  # noqa: F401

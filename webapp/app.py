"""The Flask app: configuration (defaults, environment, overrides) and its blueprints.

Blueprints: ``survey`` and ``examples`` (participant pages, webapp/survey/), ``api``
(participant JSON API, described in webapp/survey/openapi.yaml), ``admin`` (researcher
area, webapp/admin/), ``recruit`` (entry routes of the recruitment sources: the lab,
MTurk and Prolific, webapp/recruitment/), ``health`` (webapp/server/). The database
schema is Alembic's (``camstudy db upgrade``); the app refuses to start on an older one.
"""
from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # flask is imported by create_app: `import webapp` does not load it
    from flask import Flask

ENV_KEYS = {
    # config key -> environment variable
    "SECRET_KEY": "CAMSTUDY_SECRET_KEY",
    "DATABASE_URL": "DATABASE_URL",
    "CAMSTUDY_ADMIN_PASSWORD": "CAMSTUDY_ADMIN_PASSWORD",
    "CAMSTUDY_ADMIN_TOKEN": "CAMSTUDY_ADMIN_TOKEN",
    "CAMSTUDY_LAB_PASSWORD": "CAMSTUDY_LAB_PASSWORD",
    "CAMSTUDY_STUDY": "CAMSTUDY_STUDY",
    "RATELIMIT_STORAGE_URI": "CAMSTUDY_RATELIMIT_STORAGE_URI",
}


def default_database_url(instance_path: str) -> str:
    return "sqlite:///" + os.path.join(instance_path, "camstudy.sqlite3")


def resolve_database_url(given: str | None = None) -> str:
    """``given``, else ``DATABASE_URL``, else the SQLite file in the Flask instance folder
    (``instance/camstudy.sqlite3`` beside the package in a checkout; created if missing)."""
    if given:
        return given
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    from flask import Flask

    instance = Flask("webapp", instance_relative_config=True).instance_path
    os.makedirs(instance, exist_ok=True)
    return default_database_url(instance)


def load_config(app: Flask, config: dict[str, Any] | None) -> None:
    app.config.from_mapping(
        SECRET_KEY=None,
        MAX_CONTENT_LENGTH=64 * 1024,  # answers are tiny; nothing legitimate is larger
        MAX_FORM_MEMORY_SIZE=64 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(days=7),
        WTF_CSRF_TIME_LIMIT=None,  # a consent page may stay open long in the lab
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="memory://",
        CAMSTUDY_RATE_ANSWERS="120 per minute",
        CAMSTUDY_RATE_START="30 per minute",
        CAMSTUDY_RATE_LOGIN="10 per minute",
        CAMSTUDY_CHECK_SCHEMA=True,
        CAMSTUDY_STUDY=None,
    )
    for key, env in ENV_KEYS.items():
        if os.environ.get(env):
            app.config[key] = os.environ[env]
    if os.environ.get("SECRET_KEY") and not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    if config:
        app.config.update(config)
    if not app.config.get("DATABASE_URL"):
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["DATABASE_URL"] = default_database_url(app.instance_path)
    relaxed = app.debug or app.testing
    if "SESSION_COOKIE_SECURE" not in (config or {}):
        env = os.environ.get("CAMSTUDY_COOKIE_SECURE")
        app.config["SESSION_COOKIE_SECURE"] = (env.lower() in ("1", "true", "yes")) if env else not relaxed
    if not app.config["SECRET_KEY"]:
        if not relaxed:
            raise RuntimeError(
                "SECRET_KEY is not set: set CAMSTUDY_SECRET_KEY to a long random string "
                "(python -c 'import secrets; print(secrets.token_hex(32))'); "
                "only debug mode runs without one"
            )
        app.config["SECRET_KEY"] = os.urandom(32).hex()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the survey app; ``config`` overrides defaults and the environment."""
    from flask import Flask

    from webapp.survey.json_body import StrictJSONProvider, StrictJSONRequest

    app = Flask("webapp", instance_relative_config=True)  # templates/, static/ and instance/ of the package
    app.json = StrictJSONProvider(app)  # every request.get_json(): bounded, strict JSON
    app.request_class = StrictJSONRequest
    load_config(app, config)

    from webapp.admin import views as admin
    from webapp.data.engine import db
    from webapp.data.migrate import check_schema
    from webapp.recruitment import recruit
    from webapp.server import health, security
    from webapp.survey import api, examples, pages as survey

    db.init_app(app)
    guard = app.extensions["camstudy_db"][2]
    if guard is not None and guard.changed():
        # a worker started after its server's SQLite file went: boot, and answer 503 (webapp/server/health.py)
        app.logger.error("the SQLite file %s was removed or replaced after the server started", guard.path)
    elif app.config["CAMSTUDY_CHECK_SCHEMA"]:
        check_schema(db_engine(app))
    security.init_app(app)
    app.register_blueprint(survey.bp)
    app.register_blueprint(examples.bp)
    app.register_blueprint(api.bp)
    security.csrf.exempt(api.bp)  # JSON only, token in the URL; see webapp/survey/api.py
    app.register_blueprint(admin.bp)
    app.register_blueprint(recruit.bp)
    app.register_blueprint(health.bp)
    return app


def db_engine(app: Flask):
    """The app's SQLAlchemy engine (dispose it when done with an app outside a server)."""
    return app.extensions["camstudy_db"][0]

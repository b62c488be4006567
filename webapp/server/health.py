"""``/healthz``: is this app process able to reach its database?

For load balancers and monitoring: 200 ``{"status": "ok"}`` when a ``SELECT 1`` on
the app's engine succeeds within the pool's limits, 503 ``{"status": "unavailable"}``
otherwise. It says nothing about the study or the data (it needs no credentials), and
it never holds a connection longer than the one statement.

It also turns a lost database connection during any request into a 503 with
``Retry-After`` instead of a bare 500, and so does a SQLite file removed or replaced
under the running app (``webapp.data.engine.SQLiteFileGuard``): the database the operator
configured is gone, so nothing may be acknowledged as saved.
"""
from __future__ import annotations

import time

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import InterfaceError, OperationalError

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    engine = current_app.extensions["camstudy_db"][0]
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
        current_app.logger.warning("healthz: database unreachable: %s", getattr(exc, "orig", None) or type(exc).__name__)
        resp = jsonify(status="unavailable", database="unreachable")
        resp.status_code = 503
        return resp
    ms = round((time.perf_counter() - started) * 1000, 1)
    return jsonify(status="ok", database="ok", database_ms=ms)


@bp.app_errorhandler(OperationalError)
@bp.app_errorhandler(InterfaceError)
def database_unavailable(exc: OperationalError | InterfaceError):
    """The database went away mid-request (a restart, a failover, a dropped connection):
    nothing was stored by this request's transaction, so say 503 and let the client retry
    (survey.js does, with the same idempotency key; pre-ping heals the pool meanwhile)."""
    from webapp.data.engine import SQLiteFileChanged

    if isinstance(exc.orig, SQLiteFileChanged):
        current_app.logger.error("database unavailable: %s", exc.orig)
    else:
        current_app.logger.warning("database unavailable: %s", type(exc.orig).__name__ if exc.orig else exc)
    if request.path.startswith(("/api/", "/admin/api/", "/healthz")):
        resp = jsonify(error="The database is unavailable for a moment; try again.", status=503)
    else:
        from flask import render_template

        resp = current_app.make_response((render_template(
            "error.html", status=503, message="The survey is busy for a moment. Reload the page to try again."), 503))
    resp.status_code = 503
    resp.headers["Retry-After"] = "2"
    return resp

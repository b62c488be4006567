"""``/healthz``: is this app process able to reach its database?

For load balancers and monitoring: 200 ``{"status": "ok"}`` when a ``SELECT 1`` on
the app's engine succeeds within the pool's limits, 503 ``{"status": "unavailable"}``
otherwise. It says nothing about the study or the data (it needs no credentials), and
it never holds a connection longer than the one statement.
"""
from __future__ import annotations

import time

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    engine = current_app.extensions["camstudy_db"][0]
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
        current_app.logger.warning("healthz: database unreachable: %s", type(exc).__name__)
        resp = jsonify(status="unavailable", database="unreachable")
        resp.status_code = 503
        return resp
    ms = round((time.perf_counter() - started) * 1000, 1)
    return jsonify(status="ok", database="ok", database_ms=ms)

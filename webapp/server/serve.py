"""`camstudy serve` after its arguments are parsed: check the port, build the app,
print the banner (participant link, admin link), then run the development server or
gunicorn (``--prod``) until stopped."""
from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from webapp.app import create_app, db_engine, resolve_database_url
from webapp.data.engine import db
from webapp.errors import SchemaError, ServeError
from webapp.server import devserver, prod as production
from webapp.survey.navigation import active_study


def _admin_credentials(prod: bool, config: dict, notes: list[str]) -> str | None:
    """What the banner shows after the admin URL (None: no admin line). Only a token
    generated for this run is printed: stdout of a service ends up in its log, and a
    credential from the environment must not. ``--prod`` generates none."""
    if os.environ.get("CAMSTUDY_ADMIN_TOKEN") or os.environ.get("CAMSTUDY_ADMIN_PASSWORD"):
        return "  (log in with CAMSTUDY_ADMIN_PASSWORD, or open it once with ?token=<CAMSTUDY_ADMIN_TOKEN>)"
    if prod:
        notes.append("the admin area is off: set CAMSTUDY_ADMIN_PASSWORD or CAMSTUDY_ADMIN_TOKEN to turn it on")
        return None
    token = config["CAMSTUDY_ADMIN_TOKEN"] = secrets.token_urlsafe(18)
    notes.append("admin token generated for this run (set CAMSTUDY_ADMIN_TOKEN or CAMSTUDY_ADMIN_PASSWORD to choose)")
    return f"?token={token}"


def serve(host: str = "127.0.0.1", port: int | None = None, log_file: Path | None = None, *,
          database_url: str | None = None, study: str | None = None, debug: bool = False, prod: bool = False,
          workers: int = 0, threads: int = 4, proxy_hops: int | None = None, access_log: bool = False) -> None:
    """Serve the survey until stopped: the development server (its one-line-per-request
    log appended to ``log_file``, default stderr), or gunicorn with ``prod``.

    ``port``: default 5000, 8000 with ``prod``; ``database_url``: default $DATABASE_URL
    or the instance SQLite file; ``study``: the study id new participants join (default
    the latest imported); ``proxy_hops``: default $CAMSTUDY_PROXY_HOPS or 0. Raises
    ``ServeError`` (the port is taken, no study, an old schema, no secret key in
    production) before anything is served."""
    if prod and debug:
        raise ServeError("prod and debug do not go together")
    port = port or (8000 if prod else 5000)
    busy = devserver.port_problem(host, port)
    if busy:  # before any work, banner or token
        raise ServeError(f"{busy}; stop the other server or choose another port with --port")
    if proxy_hops is None:
        try:
            proxy_hops = production.proxy_hops_from_env()
        except ValueError as exc:
            raise ServeError(str(exc)) from exc

    config: dict = {"DATABASE_URL": resolve_database_url(database_url), "DEBUG": debug}
    if study:
        config["CAMSTUDY_STUDY"] = study
    notes = []
    if not os.environ.get("CAMSTUDY_SECRET_KEY"):
        config["SECRET_KEY"] = secrets.token_hex(32)
        notes.append("CAMSTUDY_SECRET_KEY is not set: using a key for this run only "
                     "(participants resume through their link after a restart)")
    if not os.environ.get("CAMSTUDY_COOKIE_SECURE") and not prod:
        config["SESSION_COOKIE_SECURE"] = False  # the development server speaks plain HTTP
    admin_line = _admin_credentials(prod, config, notes)
    try:
        app = create_app(config)
    except (SchemaError, RuntimeError) as exc:
        raise ServeError(str(exc)) from exc
    with app.app_context():
        active = active_study(db.session)
    if active is None:
        raise ServeError("no study in the database" + (f" with id {study!r}" if study else "")
                         + ": run `camstudy import <study dir>` first")
    base = f"http://{host}:{port}"
    print(f"camstudy: serving study {active.study_id} on {base}")
    print(f"  participant link (lab): {base}/lab")
    if admin_line:
        print(f"  admin: {base}/admin/{admin_line}")
    for note in notes:
        print(f"  note: {note}")
    sys.stdout.flush()
    if prod:
        guard = app.extensions["camstudy_db"][2]
        if guard is not None:  # workers refuse a file replaced before they start, too
            config["CAMSTUDY_SQLITE_FILE_ID"] = guard.identity
        db_engine(app).dispose()  # workers open their own connections after the fork
        production.run(config, production.ProdOptions(
            host=host, port=port, workers=workers, threads=threads, proxy_hops=proxy_hops, access_log=access_log,
        ))
        return
    if log_file is None:
        devserver.run(app, host, port, debug)
    else:
        log_file = Path(log_file)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a", encoding="utf-8") as log:
            devserver.run(app, host, port, debug, log)

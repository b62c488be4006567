"""`camstudy db|import|serve|export`: each ``f(argv) -> int`` with its own parser.

The database is ``--database-url``, else ``DATABASE_URL``, else the SQLite file in the
Flask instance folder (``instance/camstudy.sqlite3`` beside the package in a checkout).
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from sqlalchemy.orm import Session


def _url(args: argparse.Namespace) -> str:
    if getattr(args, "database_url", None):
        return args.database_url
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    from flask import Flask

    from webapp import default_database_url

    instance = Flask("webapp", instance_relative_config=True).instance_path
    os.makedirs(instance, exist_ok=True)
    return default_database_url(instance)


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", help="SQLAlchemy URL (default: $DATABASE_URL or the instance SQLite file)")


def _checked_engine(url: str):
    from webapp.db import make_engine
    from webapp.migrate import SchemaError, check_schema

    engine = make_engine(url)
    try:
        check_schema(engine)
    except SchemaError as exc:
        engine.dispose()
        print(f"error: {exc}", file=sys.stderr)
        return None
    return engine


def db_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="camstudy db", description="Manage the survey database schema (Alembic).")
    sub = p.add_subparsers(dest="action", required=True)
    for name, text in (("upgrade", "apply all migrations"), ("current", "show the schema revision")):
        _db_arg(sub.add_parser(name, help=text))
    down = sub.add_parser("downgrade", help="revert to a revision (e.g. base)")
    down.add_argument("revision")
    _db_arg(down)
    args = p.parse_args(argv)
    from webapp import migrate
    from webapp.db import make_engine

    url = _url(args)
    shown = make_engine(url).url.render_as_string(hide_password=True)
    if args.action == "upgrade":
        migrate.upgrade(url)
        print(f"database {shown} is at {', '.join(sorted(migrate.head_revisions(url)))} (latest)")
    elif args.action == "downgrade":
        migrate.downgrade(url, args.revision)
        print(f"database {shown} downgraded to {args.revision}")
    else:
        engine = make_engine(url)
        current = migrate.current_revisions(engine)
        engine.dispose()
        heads = migrate.head_revisions(url)
        state = "latest" if current == heads else f"out of date: run `{migrate.FIX}`"
        print(f"database {shown}: {', '.join(sorted(current)) or 'empty'} ({state})")
    return 0


def import_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="camstudy import", description="Load a study directory's manifest.json into the database.")
    p.add_argument("study_dir", type=Path)
    p.add_argument("--replace", action="store_true",
                   help="if the study id exists with a different manifest and no answers, replace it")
    p.add_argument("--discard-answers", action="store_true",
                   help="with --replace: also when it has answers (they are deleted; export them first)")
    _db_arg(p)
    args = p.parse_args(argv)
    from webapp.importer import ImportError_, import_study
    from webapp.settings import SettingsError

    engine = _checked_engine(_url(args))
    if engine is None:
        return 1
    with Session(engine) as session:
        try:
            result = import_study(session, args.study_dir, args.replace, args.discard_answers)
        except (ImportError_, SettingsError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    engine.dispose()
    what = "imported" if result.created else "already imported, unchanged"
    if not result.created and result.settings_changed:
        what = "already imported; survey settings updated from study.toml"
    print(f"study {result.study_id}: {what} ({result.pairs} pairs, {result.attention_checks} attention checks)")
    return 0


def export_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="camstudy export", description="Write the tidy responses export (one row per answer).")
    p.add_argument("--out", type=Path, default=Path("responses.csv"), help="output file (default responses.csv)")
    p.add_argument("--json", action="store_true", help="write responses.json format instead of CSV")
    p.add_argument("--study", help="only this study id (default: every study in the database)")
    _db_arg(p)
    args = p.parse_args(argv)
    from webapp import export

    engine = _checked_engine(_url(args))
    if engine is None:
        return 1
    with Session(engine) as session:
        data = list(export.rows(session, args.study))  # read once: written and counted
        text = (export.to_json if args.json else export.to_csv)(session, args.study, data=data)
        n = len(data)
    engine.dispose()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {n} answers to {args.out}")
    return 0


def serve_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="camstudy serve", description="Run the survey: the development server, or gunicorn with --prod.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, help="port (default 5000; 8000 with --prod)")
    p.add_argument("--study", help="study id new participants join (default: the latest imported)")
    p.add_argument("--debug", action="store_true", help="Flask debug mode (never on a shared network)")
    p.add_argument("--log-file", type=Path, metavar="FILE",
                   help="development server: append its one-line-per-request log to FILE (default: stderr)")
    prod = p.add_argument_group("production (--prod: gunicorn; see docs/deploying.md)")
    prod.add_argument("--prod", action="store_true", help="serve with gunicorn instead of the development server")
    prod.add_argument("--workers", type=int, default=0, help="worker processes (default: 2 per core, 2-8)")
    prod.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    prod.add_argument("--proxy-hops", type=int, default=int(os.environ.get("CAMSTUDY_PROXY_HOPS", "1")),
                      help="reverse proxies in front whose X-Forwarded-* headers are trusted "
                           "(default $CAMSTUDY_PROXY_HOPS or 1; 0 when clients connect directly)")
    prod.add_argument("--access-log", action="store_true", help="log every request to stdout")
    _db_arg(p)
    args = p.parse_args(argv)
    if args.prod and args.debug:
        p.error("--prod and --debug do not go together")
    args.port = args.port or (8000 if args.prod else 5000)
    from webapp import devserver

    busy = devserver.port_problem(args.host, args.port)
    if busy:  # before any work, banner or token
        print(f"error: {busy}; stop the other server or choose another port with --port", file=sys.stderr)
        return 1
    from webapp import create_app, db_engine
    from webapp.migrate import SchemaError

    config: dict = {"DATABASE_URL": _url(args), "DEBUG": args.debug}
    if args.study:
        config["CAMSTUDY_STUDY"] = args.study
    notes = []
    if not os.environ.get("CAMSTUDY_SECRET_KEY"):
        config["SECRET_KEY"] = secrets.token_hex(32)
        notes.append("CAMSTUDY_SECRET_KEY is not set: using a key for this run only "
                     "(participants resume through their link after a restart)")
    if not os.environ.get("CAMSTUDY_COOKIE_SECURE") and not args.prod:
        config["SESSION_COOKIE_SECURE"] = False  # the development server speaks plain HTTP
    admin_token = os.environ.get("CAMSTUDY_ADMIN_TOKEN")
    if not admin_token and not os.environ.get("CAMSTUDY_ADMIN_PASSWORD"):
        admin_token = config["CAMSTUDY_ADMIN_TOKEN"] = secrets.token_urlsafe(18)
        notes.append("admin token generated for this run (set CAMSTUDY_ADMIN_TOKEN or CAMSTUDY_ADMIN_PASSWORD to choose)")
    try:
        app = create_app(config)
    except (SchemaError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with app.app_context():
        from webapp.db import db
        from webapp.flow import active_study

        study = active_study(db.session)
    if study is None:
        print("error: no study in the database" + (f" with id {args.study!r}" if args.study else "")
              + ": run `camstudy import <study dir>` first", file=sys.stderr)
        return 1
    base = f"http://{args.host}:{args.port}"
    print(f"camstudy: serving study {study.study_id} on {base}")
    print(f"  participant link (lab): {base}/lab")
    print(f"  admin: {base}/admin/" + (f"?token={admin_token}" if admin_token else "  (log in with CAMSTUDY_ADMIN_PASSWORD)"))
    for note in notes:
        print(f"  note: {note}")
    sys.stdout.flush()
    if args.prod:
        from webapp import prod

        db_engine(app).dispose()  # workers open their own connections after the fork
        return prod.run(config, prod.ProdOptions(
            host=args.host, port=args.port, workers=args.workers, threads=args.threads,
            proxy_hops=args.proxy_hops, access_log=args.access_log,
        ))
    if args.log_file is None:
        devserver.run(app, args.host, args.port, args.debug)
    else:
        args.log_file.parent.mkdir(parents=True, exist_ok=True)
        with args.log_file.open("a", encoding="utf-8") as log:
            devserver.run(app, args.host, args.port, args.debug, log)
    return 0

"""`camstudy db|import|serve|export|mturk`: each ``<name>_main(argv) -> int`` with its own
parser; the work is done by webapp's functions, these parse and print.

The database is ``--database-url``, else ``DATABASE_URL``, else the SQLite file in the
Flask instance folder (``instance/camstudy.sqlite3`` beside the package in a checkout).

``camstudy mturk ...`` publishes the survey as HITs, follows them, reviews, pays
bonuses. Sandbox unless ``--live``; live commands that spend money or change HITs ask
for a typed confirmation showing the amount (or take ``--yes``). ``--dry-run`` prints,
one JSON object per line, every boto3 call with its exact keyword arguments and sends
nothing (nor writes to the database).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session


def _url(args: argparse.Namespace) -> str:
    from webapp.app import resolve_database_url

    return resolve_database_url(getattr(args, "database_url", None))


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", help="SQLAlchemy URL (default: $DATABASE_URL or the instance SQLite file)")


def _checked_engine(url: str):
    from webapp.data.migrate import checked_engine
    from webapp.errors import SchemaError

    try:
        return checked_engine(url)
    except SchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def db_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="camstudy db", description="Manage the survey database schema (Alembic).")
    sub = p.add_subparsers(dest="action", required=True)
    for name, text in (("upgrade", "apply all migrations"), ("current", "show the schema revision")):
        _db_arg(sub.add_parser(name, help=text))
    down = sub.add_parser("downgrade", help="revert to a revision (e.g. base); refuses while answers are stored")
    down.add_argument("revision")
    down.add_argument("--discard-answers", action="store_true",
                      help="go ahead although the database holds answers (SQLite: a backup copy is written first)")
    _db_arg(down)
    args = p.parse_args(argv)
    from webapp.data import migrate
    from webapp.data.engine import make_engine

    url = _url(args)
    engine = make_engine(url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        current, heads = migrate.current_revisions(engine), migrate.head_revisions(url)
        if migrate.unknown_revisions(url, current):
            print(f"error: {migrate.newer_message(shown, current, heads)}", file=sys.stderr)
            return 1
        if args.action == "upgrade":
            migrate.upgrade(url)
            print(f"database {shown} is at {', '.join(sorted(heads))} (latest)")
        elif args.action == "downgrade":
            return _downgrade(engine, url, shown, args.revision, args.discard_answers)
        else:
            state = "latest" if current == heads else f"out of date: run `{migrate.FIX}`"
            print(f"database {shown}: {', '.join(sorted(current)) or 'empty'} ({state})")
        return 0
    finally:
        engine.dispose()


def _downgrade(engine, url: str, shown: str, revision: str, discard_answers: bool) -> int:
    """Refuse to drop answers unless told so; back the database up (or say how) first."""
    from webapp.data import migrate
    from webapp.data.engine import sqlite_file

    answers = migrate.answers_held(engine)
    path = sqlite_file(url)
    backup_hint = (f"back it up first: {migrate.pg_dump_command(engine)}" if engine.dialect.name == "postgresql"
                   else "a backup copy is written first" if path else "back it up first")
    if answers and not discard_answers:
        print(f"error: the database {shown} holds {answers} answers; downgrading to {revision} drops the tables "
              "and columns that later revisions added, and the answers with them. Export them first "
              "(camstudy export --out responses.csv), then run again with --discard-answers "
              f"({backup_hint}).", file=sys.stderr)
        return 1
    if path and os.path.exists(path):
        print(f"backup of {shown} written to {migrate.backup_sqlite(path)}")
    elif engine.dialect.name == "postgresql":
        print(f"note: no backup is taken of PostgreSQL; {backup_hint}")
    migrate.downgrade(url, revision)
    print(f"database {shown} downgraded to {revision}" + (f" ({answers} answers discarded)" if answers else ""))
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
    from webapp.data.importer import import_study_dir
    from webapp.errors import SchemaError, StudyImportError
    from webapp.settings import SettingsError

    try:
        result = import_study_dir(args.study_dir, _url(args), args.replace, args.discard_answers)
    except (StudyImportError, SettingsError, SchemaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0


def export_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="camstudy export", description="Write the tidy responses export (one row per answer).")
    p.add_argument("--out", type=Path, default=Path("responses.csv"), help="output file (default responses.csv)")
    p.add_argument("--json", action="store_true", help="write responses.json format instead of CSV")
    p.add_argument("--study", help="only this study id (default: every study in the database)")
    _db_arg(p)
    args = p.parse_args(argv)
    from webapp.data import export

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


def _proxy_hops(p: argparse.ArgumentParser, given: int | None) -> int:
    """--proxy-hops, else $CAMSTUDY_PROXY_HOPS, else 0 (no forwarded header trusted)."""
    from webapp.server.prod import proxy_hops_from_env

    try:
        hops = proxy_hops_from_env() if given is None else given
    except ValueError as exc:
        p.error(str(exc))
    if hops < 0:
        p.error("--proxy-hops must be 0 or more")
    return hops


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
    prod.add_argument("--proxy-hops", type=int, default=None,
                      help="reverse proxies in front whose X-Forwarded-* headers are trusted "
                           "(default $CAMSTUDY_PROXY_HOPS or 0: clients connect directly; 1 behind nginx)")
    prod.add_argument("--access-log", action="store_true", help="log every request to stdout")
    _db_arg(p)
    args = p.parse_args(argv)
    if args.prod and args.debug:
        p.error("--prod and --debug do not go together")
    args.proxy_hops = _proxy_hops(p, args.proxy_hops)
    from webapp.errors import ServeError
    from webapp.server.serve import serve

    try:
        serve(args.host, args.port, args.log_file, database_url=args.database_url, study=args.study,
              debug=args.debug, prod=args.prod, workers=args.workers, threads=args.threads,
              proxy_hops=args.proxy_hops, access_log=args.access_log)
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- camstudy mturk

MTURK_DESCRIPTION = "`camstudy mturk ...`: publish the survey as HITs, follow them, review, pay bonuses."
MTURK_COMMANDS = {
    "balance": "show the account balance",
    "cost": "rewards + MTurk fees for the planned assignments (nothing is created)",
    "create": "create the HITs (ExternalQuestion, <= 9 assignments each)",
    "list": "the study's HITs and their assignment counts",
    "status": "per HIT: available, pending, submitted, approved, rejected (stores assignments)",
    "review": "approve assignments that passed the attention checks (prints only, unless --apply)",
    "bonus": "pay a bonus (once per assignment)",
    "expire": "stop HITs from taking new workers",
    "delete": "delete reviewed, expired HITs",
}


def mturk_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--live", action="store_true", help="use the live marketplace (real money); default: sandbox")
    common.add_argument("--yes", action="store_true", help="with --live: do not ask for confirmation")
    common.add_argument("--dry-run", action="store_true", help="print the boto3 calls as JSON lines; call nothing")
    common.add_argument("--study", help="study id (default: the latest imported)")
    common.add_argument("--profile", help="AWS profile (default: the standard AWS credential chain)")
    common.add_argument("--database-url", help="SQLAlchemy URL (default: $DATABASE_URL or the instance SQLite file)")
    p = argparse.ArgumentParser(prog="camstudy mturk", description=MTURK_DESCRIPTION)
    sub = p.add_subparsers(dest="command", required=True)
    parsers = {name: sub.add_parser(name, help=text, description=text, parents=[common])
               for name, text in MTURK_COMMANDS.items()}
    for name in ("cost", "create"):
        parsers[name].add_argument("--assignments", type=int, help="number of assignments "
                                   "(default: [mturk] assignments, else enough for ratings_per_pair)")
    parsers["create"].add_argument("--url", help="public https:// base URL of the survey (default: [mturk] public_url)")
    parsers["review"].add_argument("--apply", action="store_true", help="send the approvals (and rejections)")
    parsers["review"].add_argument("--reject", action="store_true",
                                   help="reject assignments that failed (needs --message); default: hold them")
    parsers["review"].add_argument("--message", help="feedback shown to rejected workers")
    b = parsers["bonus"]
    who = b.add_mutually_exclusive_group(required=True)
    who.add_argument("--assignment", help="assignment id")
    who.add_argument("--all-approved", action="store_true", help="every approved assignment without a bonus yet")
    b.add_argument("--amount", required=True, help='US dollars, e.g. "0.50"')
    b.add_argument("--reason", required=True, help="shown to the worker")
    for name in ("expire", "delete"):
        parsers[name].add_argument("--hit", help="only this HIT id (default: all of the study's HITs)")
    return p


def _confirm_live(args: argparse.Namespace) -> Callable[[str], bool]:
    def confirm(text: str) -> bool:
        if not args.live or args.yes or args.dry_run or (args.command == "review" and not args.apply):
            return True
        if not sys.stdin.isatty():
            print(f"{text}\nrefused: live mode needs a typed confirmation on a terminal, or --yes", file=sys.stderr)
            return False
        answer = input(f"LIVE MARKETPLACE, real money. {text} Type 'yes' to go on: ")
        return answer.strip().lower() == "yes"

    return confirm


def mturk_main(argv: list[str], client: Any = None, sleep: Callable[[float], None] | None = None) -> int:
    """``client``: a boto3 mturk client to use instead of one from the AWS chain (tests)."""
    args = mturk_parser().parse_args(argv)
    if args.command == "review" and args.reject and not args.message:
        print("error: --reject needs --message TEXT (MTurk shows it to the worker)", file=sys.stderr)
        return 2
    if args.command == "bonus" and not re.fullmatch(r"\d{1,4}\.\d{2}", args.amount):
        print(f'error: --amount must be US dollars with two decimals, e.g. "0.50", got {args.amount!r}', file=sys.stderr)
        return 2
    from webapp.data.tables import Study
    from webapp.recruitment.mturk import requester
    from webapp.recruitment.mturk.calls import Calls, MTurkError, make_client
    from webapp.settings import SettingsError, check_study_dir

    engine = _checked_engine(_url(args))
    if engine is None:
        return 1
    sandbox = not args.live
    out = sys.stderr if args.dry_run else sys.stdout
    try:
        with Session(engine) as session:
            q = select(Study).filter_by(study_id=args.study) if args.study else \
                select(Study).order_by(Study.imported_at.desc(), Study.id.desc()).limit(1)
            study = session.scalar(q)
            if study is None:
                print("error: no study " + (f"{args.study!r} " if args.study else "")
                      + "in the database: run `camstudy import <study dir>` first", file=sys.stderr)
                return 1
            check_study_dir(study.study_dir, study.manifest)  # the file as import checks it, edits included
            if client is None and not args.dry_run and args.command != "cost":
                from botocore.exceptions import BotoCoreError

                try:
                    client = make_client(sandbox, args.profile)
                except BotoCoreError as exc:  # e.g. an unknown --profile
                    raise MTurkError(f"cannot set up the MTurk client: {exc}") from exc
            extra = {"sleep": sleep} if sleep else {}
            reader = Calls(client, dry_run=args.dry_run, **extra)
            writer = Calls(client, dry_run=args.dry_run or (args.command == "review" and not args.apply), **extra)
            ctx = requester.Context(session, study, sandbox, reader, writer,
                                    say=lambda line: print(line, file=out), confirm=_confirm_live(args))
            return _mturk_run(args, ctx, requester)
    except (MTurkError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _mturk_run(args: argparse.Namespace, ctx: Any, requester: Any) -> int:
    c = args.command
    if c == "create":
        return requester.create(ctx, args.url, args.assignments)
    if c == "cost":
        return requester.cost(ctx, args.assignments)
    if c == "review":
        return requester.review(ctx, args.message if args.reject else None)
    if c == "bonus":
        return requester.bonus(ctx, args.assignment, args.all_approved, args.amount, args.reason)
    if c in ("expire", "delete"):
        return getattr(requester, c)(ctx, args.hit)
    return {"balance": requester.balance, "list": requester.list_hits, "status": requester.status}[c](ctx)

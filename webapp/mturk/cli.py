"""`camstudy mturk ...`: publish the survey as HITs, follow them, review, pay bonuses.

Sandbox unless ``--live``; live commands that spend money or change HITs ask for a
typed confirmation showing the amount (or take ``--yes``). ``--dry-run`` prints, one
JSON object per line, every boto3 call with its exact keyword arguments and sends
nothing (nor writes to the database).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

COMMANDS = {
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


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--live", action="store_true", help="use the live marketplace (real money); default: sandbox")
    common.add_argument("--yes", action="store_true", help="with --live: do not ask for confirmation")
    common.add_argument("--dry-run", action="store_true", help="print the boto3 calls as JSON lines; call nothing")
    common.add_argument("--study", help="study id (default: the latest imported)")
    common.add_argument("--profile", help="AWS profile (default: the standard AWS credential chain)")
    common.add_argument("--database-url", help="SQLAlchemy URL (default: $DATABASE_URL or the instance SQLite file)")
    p = argparse.ArgumentParser(prog="camstudy mturk", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    parsers = {name: sub.add_parser(name, help=text, description=text, parents=[common])
               for name, text in COMMANDS.items()}
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


def main(argv: list[str], client: Any = None, sleep: Callable[[float], None] | None = None) -> int:
    """``client``: a boto3 mturk client to use instead of one from the AWS chain (tests)."""
    import re

    args = build_parser().parse_args(argv)
    if args.command == "review" and args.reject and not args.message:
        print("error: --reject needs --message TEXT (MTurk shows it to the worker)", file=sys.stderr)
        return 2
    if args.command == "bonus" and not re.fullmatch(r"\d{1,4}\.\d{2}", args.amount):
        print(f'error: --amount must be US dollars with two decimals, e.g. "0.50", got {args.amount!r}', file=sys.stderr)
        return 2
    from webapp.cli import _checked_engine, _url
    from webapp.db import Study
    from webapp.mturk import requester
    from webapp.mturk.calls import Calls, MTurkError, make_client
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
            return _run(args, ctx, requester)
    except (MTurkError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _run(args: argparse.Namespace, ctx: Any, requester: Any) -> int:
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

"""Survey load test: simulated participants over HTTP against `camstudy serve --prod`.

    .venv/bin/python benchmarks/load_test.py [--db sqlite|postgres|both] [--participants 400]
        [--concurrency 200] [--workers 4] [--threads 4] [--think 0] [--max-seconds 300] [--json out.json]

Everything runs on 127.0.0.1: a fresh database (a SQLite file, or a PostgreSQL database
``camstudy_bench`` created and dropped through $CAMSTUDY_TEST_POSTGRES_URL's server), a
study built without torch (tests/webapp/webapp_helpers.build_study), the gunicorn server
as a subprocess, and ``webapp.simulate`` clients in this process, each a browser-like
participant going through /lab, consent, instructions, every trial (page, images,
prefetch, answer POST with its idempotency key) and the questionnaire. Simulated
participants pose as arriving through a proxy (their own X-Forwarded-For), so rate
limits key on each of them, as behind nginx.

Reported: answers/s (trials answered per second over the whole run, sign-up included),
p50/p95/p99 of the answer POST, of page loads and of image loads, retries, 5xx and
errors; then ``webapp.simulate.audit`` checks the database: every acknowledged answer
stored exactly once, nobody over-allocated, every pair within ratings_per_pair + slack.
Exit status 1 when a check fails or a target is missed (--no-targets: only checks).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "webapp")]

from http_floor import hammer  # noqa: E402
from prod_server import LAB_PASSWORD, drop_postgres, fresh_postgres, start_prod  # noqa: E402
from webapp_helpers import build_study  # noqa: E402

TARGETS = {"answers_per_s": 300, "answer_p99_ms": 250}


def study_toml(participants: int, pairs: int, per_participant: int, slack: int) -> tuple[str, int]:
    ratings = max(1, math.ceil(participants * per_participant / pairs))
    return (
        "[survey]\npractice_trials = 1\n\n[assignment]\n"
        f"ratings_per_pair = {ratings}\npairs_per_participant = {per_participant}\n"
        "attention_checks_per_participant = 1\n"
    ), ratings


def server_cpu_s(server) -> float:
    """CPU seconds used so far by gunicorn's master and workers (Linux /proc)."""
    total = 0
    for pid in [server.proc.pid, *server.worker_pids()]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def run_one(kind: str, args: argparse.Namespace, work: Path) -> dict:
    from sqlalchemy.orm import Session

    from webapp.db import make_engine
    from webapp.importer import import_study
    from webapp.migrate import upgrade
    from webapp.simulate import ClientOptions, audit, simulate

    toml, ratings = study_toml(args.participants, args.pairs, args.per_participant, args.slack)
    study = build_study(work / kind, n_pairs=args.pairs, n_attention=4, study_id=f"load-{kind}", toml=toml)
    url = f"sqlite:///{work / (kind + '.sqlite3')}" if kind == "sqlite" else fresh_postgres("camstudy_bench")
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s:
        import_study(s, study)
    server = start_prod(url, work / f"{kind}-server.log", workers=args.workers, threads=args.threads)
    try:
        # the same kind of client fetching the cheapest thing the server has (a static file,
        # no database) as fast as it can: the ceiling any survey request rate sits under
        reference = hammer(server.url + "/static/survey.css", args.concurrency, args.reference) if args.reference else None
        cpu, server_cpu0 = os.times(), server_cpu_s(server)
        manifest = json.loads((study / "manifest.json").read_text())
        opts = ClientOptions(lab_password=LAB_PASSWORD, forwarded_for=True, timeout_s=30, trust_env=False, think_s=args.think)  # 127.0.0.1: no proxy, no .netrc
        result = simulate(server.url, args.participants, manifest=manifest, concurrency=args.concurrency,
                          opts=opts, max_seconds=args.max_seconds, seed=1, progress=True)
        client_cpu = (os.times().user + os.times().system) - (cpu.user + cpu.system)
        health = server.health()
        server_cpu = server_cpu_s(server) - server_cpu0
    finally:
        server.stop()
    summary = result.summary()
    problems = audit(engine, result, slack=args.slack)
    engine.dispose()
    if kind == "postgres":
        drop_postgres("camstudy_bench")
    log = (work / f"{kind}-server.log").read_text(errors="replace").splitlines()
    hits = [i for i, line in enumerate(log) if "Error" in line or "WORKER" in line]
    summary["server_log_errors"] = [log[i] for i in hits][:20]
    # the traceback's last frames before the first few errors: where it was raised
    summary["server_log_context"] = [log[j] for i in hits[:3] for j in range(max(0, i - 8), i)
                                     if log[j].lstrip().startswith("File ")]
    wall = summary["seconds"] or 1
    summary["cpu"] = {  # CPU seconds over the run; cores x wall is what the machine had
        "client_s": round(client_cpu, 1), "server_s": round(server_cpu, 1),
        "cores_x_wall_s": round((os.cpu_count() or 1) * wall, 1),
        "client_share": round(client_cpu / ((os.cpu_count() or 1) * wall), 2),
        "server_share": round(server_cpu / ((os.cpu_count() or 1) * wall), 2),
    }
    if reference:  # the survey's own requests against the static-file ceiling, same server, same run
        n_requests = sum(summary["requests"].values())
        per_answer = n_requests / max(1, summary["answers_acknowledged"])
        reference["requests_per_answer"] = round(per_answer, 2)
        reference["ceiling_answers_per_s"] = round(reference["requests_per_s"] / per_answer, 1)
        reference["survey_requests_per_s"] = round(n_requests / wall, 1)
        reference["survey_share_of_ceiling"] = round(n_requests / wall / reference["requests_per_s"], 2)
    summary.update(database=kind, health_after=health[0], reference=reference, ratings_per_pair=ratings, db_problems=problems[:20],
                   db_problem_count=len(problems))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--participants", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--per-participant", type=int, default=10, help="pairs per participant (default 10)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--slack", type=int, default=1)
    ap.add_argument("--think", type=float, default=0.0,
                    help="seconds each simulated person looks at a trial before answering (0.5-1.5x; default 0)")
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--reference", type=int, default=6000,
                    help="requests of the static-file reference run before the survey (0: none; default 6000)")
    ap.add_argument("--no-targets", action="store_true", help="fail only on lost/duplicated data or errors")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    if not (1 <= args.participants <= 5000 and 1 <= args.concurrency <= 500 and args.max_seconds <= 1800
            and 0 <= args.reference <= 100_000):
        ap.error("bounded: --participants 1-5000, --concurrency 1-500, --max-seconds <= 1800, --reference 0-100000")
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; load average before: {os.getloadavg()[0]:.2f}")
    out, ok = [], True
    with tempfile.TemporaryDirectory(prefix="camstudy-load-") as tmp:
        for kind in kinds:
            t0 = time.monotonic()
            s = run_one(kind, args, Path(tmp))
            s["wall_s"] = round(time.monotonic() - t0, 1)
            s["load_average_after"] = round(os.getloadavg()[0], 2)
            out.append(s)
            a, pg = s["answer_post_ms"], s["page_ms"]
            print(f"\n[{kind}] {s['participants']} participants, {args.concurrency} concurrent, "
                  f"{args.workers} workers x {args.threads} threads")
            print(f"  completed {s['completed']}, answers {s['answers_acknowledged']} in {s['seconds']} s "
                  f"= {s['answers_per_s']} answers/s")
            print(f"  answer POST p50/p95/p99: {a['p50']}/{a['p95']}/{a['p99']} ms")
            print(f"  page load   p50/p95/p99: {pg['p50']}/{pg['p95']}/{pg['p99']} ms; "
                  f"image p99 {s['image_ms']['p99']} ms; requests {s['requests']}")
            print(f"  retries {s['retries']}, 5xx {s['status_5xx']}, errors {s['error_count']}, "
                  f"/healthz after {s['health_after']}; load average after {s['load_average_after']}")
            c = s["cpu"]
            print(f"  CPU: client {c['client_s']} s ({c['client_share']:.0%} of {c['cores_x_wall_s']} core-s), "
                  f"app server {c['server_s']} s ({c['server_share']:.0%}); the rest is the database and idle")
            r = s["reference"]
            if r:
                print(f"  reference (static file, same client and server, no database): {r['requests_per_s']} req/s, "
                      f"client {r['client_cpu_ms_per_request']} ms CPU per request; the survey made "
                      f"{r['requests_per_answer']} requests per answer, so at that rate at most "
                      f"{r['ceiling_answers_per_s']} answers/s; survey requests ran at "
                      f"{r['survey_share_of_ceiling']:.0%} of it")
            print(f"  database check: {'OK' if not s['db_problem_count'] else s['db_problems']}")
            for line in s["server_log_errors"]:
                print(f"  server log: {line}")
            for line in s["server_log_context"]:
                print(f"  server log (raised at): {line.strip()}")
            sound = not (s["db_problem_count"] or s["error_count"] or s["status_5xx"]
                         or s["completed"] + s["study_full"] != s["participants"])
            fast = (s["answers_per_s"] or 0) >= TARGETS["answers_per_s"] and (a["p99"] or 1e9) < TARGETS["answer_p99_ms"]
            if not fast:
                print(f"  targets ({TARGETS['answers_per_s']} answers/s, p99 < {TARGETS['answer_p99_ms']} ms): missed")
            ok = ok and sound and (fast or args.no_targets)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "args": vars(args) | {"json": str(args.json)},
                                         "results": out}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

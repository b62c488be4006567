"""Survey load test: simulated participants over HTTP against `camstudy serve --prod`.

    .venv/bin/python benchmarks/load_test.py [--db sqlite|postgres|both] [--participants 400]
        [--concurrency 200] [--workers 4] [--threads 4] [--think 0] [--image-size 224]
        [--max-seconds 300] [--json out.json]
    .venv/bin/python benchmarks/load_test.py --search --think 5 [--concurrency 50] [--max-concurrency 800]

``--search``: survey capacity at human pace. Levels of N concurrent participants (each one
takes the survey once, all N arrive together, each looks at every trial for 0.5-1.5 x
``--think`` seconds), from ``--concurrency`` doubling up to ``--max-concurrency``, then
``--refine`` halving steps between the last level that held and the first that did not (when
the first level fails, halving down until one holds); each
level on a fresh database and server. A level holds when the answer POST's p99 is under
250 ms, no request failed (no 5xx, no error) and the database audit is clean. Reported: the
largest level that held, and per level the client's share of the machine and the server's CPU
per answer next to the same level's static-file reference (its server CPU per request x the
survey's requests per answer).

Everything runs on 127.0.0.1: a fresh database (a SQLite file, or a PostgreSQL database
``<database of $CAMSTUDY_TEST_POSTGRES_URL>_load`` created and dropped on that server), a
study built without torch (tests/webapp/helpers.build_study, stimuli of
``--image-size`` pixels, served as the survey serves them: layout-free PNGs), the gunicorn server
as a subprocess, and ``crowdsim`` clients in this process, each a browser-like
participant going through /lab, consent, instructions, every trial (page, images,
prefetch, answer POST with its idempotency key) and the questionnaire. Simulated
participants pose as arriving through a proxy (their own X-Forwarded-For), so rate
limits key on each of them, as behind nginx.

Reported: answers/s (trials answered per second over the whole run, sign-up included),
p50/p95/p99 of the answer POST, of page loads and of image loads, retries, 5xx and
errors; then ``crowdsim.audit`` checks the database: every acknowledged answer
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
sys.path[:0] = [str(ROOT)]

from http_floor import hammer  # noqa: E402
from tests.webapp.helpers import build_study  # noqa: E402
from tests.webapp.prod_server import LAB_PASSWORD, _admin_engine, drop_postgres, fresh_postgres, start_prod  # noqa: E402

TARGETS = {"answers_per_s": 300, "answer_p99_ms": 250, "capacity": 400}  # capacity: --search, concurrent


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


def as_generated(study: Path) -> None:
    """Stimuli as `camstudy generate` writes them, layout-free PNGs (the survey then serves
    each file as it is), the manifest's checksums to match."""
    import hashlib

    from webapp import layout_free_png

    path = study / "manifest.json"
    manifest = json.loads(path.read_text())
    for pair in manifest["pairs"]:
        for entry in [pair.get("original"), *pair["sides"].values()]:
            if entry:
                data = layout_free_png((study / entry["file"]).read_bytes())
                (study / entry["file"]).write_bytes(data)
                entry["sha256"] = hashlib.sha256(data).hexdigest()
    path.write_text(json.dumps(manifest, indent=1))


def bench_database() -> str:
    """The load test's own PostgreSQL database, named after the test database (one per engineer)."""
    base, engine = _admin_engine()
    engine.dispose()
    return f"{base.database}_load"


def reference(server, url: str, concurrency: int, total: int) -> dict:
    """``url`` fetched as fast as the client can, with the server's CPU per request."""
    cpu0 = server_cpu_s(server)
    ref = hammer(url, concurrency, total)
    ref["server_cpu_ms_per_request"] = round((server_cpu_s(server) - cpu0) / ref["requests"] * 1000, 2)
    return ref


def run_one(kind: str, args: argparse.Namespace, work: Path, participants: int, concurrency: int) -> dict:
    from crowdsim import ClientOptions, audit, simulate
    from webapp import import_study, upgrade_database

    work.mkdir(parents=True, exist_ok=True)
    toml, ratings = study_toml(participants, args.pairs, args.per_participant, args.slack)
    study = build_study(work / kind, n_pairs=args.pairs, n_attention=4, study_id=f"load-{kind}", toml=toml,
                        size=args.image_size)
    as_generated(study)
    database = bench_database() if kind == "postgres" else None
    url = f"sqlite:///{work / (kind + '.sqlite3')}" if kind == "sqlite" else fresh_postgres(database)
    upgrade_database(url)
    import_study(study, url)
    server = start_prod(url, work / f"{kind}-server.log", workers=args.workers, threads=args.threads)
    manifest = json.loads((study / "manifest.json").read_text())
    try:
        refs = {}
        if args.reference:
            # the same kind of client fetching the cheapest thing the server has (a static file,
            # no database) as fast as it can: the ceiling any survey request rate sits under;
            # then one stimulus the same way (after its first fetch: the per-process cache)
            refs["static"] = reference(server, server.url + "/static/survey.css", concurrency, args.reference)
            image = f"{server.url}/stimuli/{manifest['pairs'][0]['sides']['A']['sha256'][:32]}.png"  # the app's name
            refs["image"] = reference(server, image, min(concurrency, 50), max(50, args.reference // 4))
        cpu, server_cpu0 = os.times(), server_cpu_s(server)
        opts = ClientOptions(lab_password=LAB_PASSWORD, forwarded_for=True, timeout_s=30, trust_env=False, think_s=args.think)  # 127.0.0.1: no proxy, no .netrc
        result = simulate(server.url, participants, manifest=manifest, concurrency=concurrency,
                          opts=opts, max_seconds=args.max_seconds, seed=1, progress=True)
        client_cpu = (os.times().user + os.times().system) - (cpu.user + cpu.system)
        health = server.health()
        server_cpu = server_cpu_s(server) - server_cpu0
    finally:
        server.stop()
    summary = result.summary()
    problems = audit(url, result, slack=args.slack)
    if kind == "postgres":
        drop_postgres(database)
    log = (work / f"{kind}-server.log").read_text(errors="replace").splitlines()
    hits = [i for i, line in enumerate(log) if "Error" in line or "WORKER" in line]
    summary["server_log_errors"] = [log[i] for i in hits][:20]
    # the traceback's last frames before the first few errors: where it was raised
    summary["server_log_context"] = [log[j] for i in hits[:3] for j in range(max(0, i - 8), i)
                                     if log[j].lstrip().startswith("File ")]
    wall = summary["seconds"] or 1
    answers = max(1, summary["answers_acknowledged"])
    summary["cpu"] = {  # CPU seconds over the run; cores x wall is what the machine had
        "client_s": round(client_cpu, 1), "server_s": round(server_cpu, 1),
        "cores_x_wall_s": round((os.cpu_count() or 1) * wall, 1),
        "client_share": round(client_cpu / ((os.cpu_count() or 1) * wall), 2),
        "server_share": round(server_cpu / ((os.cpu_count() or 1) * wall), 2),
        "server_ms_per_answer": round(server_cpu / answers * 1000, 1),
    }
    ref = refs.get("static")
    if ref:  # the survey's own requests against the static-file ceiling, same server, same run
        n_requests = sum(summary["requests"].values())
        per_answer = n_requests / answers
        ref["requests_per_answer"] = round(per_answer, 2)
        ref["ceiling_answers_per_s"] = round(ref["requests_per_s"] / per_answer, 1)
        ref["survey_requests_per_s"] = round(n_requests / wall, 1)
        ref["survey_share_of_ceiling"] = round(n_requests / wall / ref["requests_per_s"], 2)
        # what an answer would cost the server if each of its requests cost a static file
        ref["static_ms_per_answer"] = round(ref["server_cpu_ms_per_request"] * per_answer, 1)
        summary["cpu"]["server_vs_static"] = round(summary["cpu"]["server_ms_per_answer"]
                                                   / max(0.01, ref["static_ms_per_answer"]), 2)
    summary.update(database=kind, concurrency=concurrency, health_after=health[0], reference=ref,
                   image_reference=refs.get("image"), ratings_per_pair=ratings, db_problems=problems[:20],
                   db_problem_count=len(problems))
    return summary


def sound(s: dict) -> bool:
    """Nothing lost, duplicated or failed: the audit is clean, every participant finished."""
    return not (s["db_problem_count"] or s["error_count"] or s["status_5xx"]
                or s["completed"] + s["study_full"] != s["participants"])


def holds(s: dict) -> bool:
    """A capacity level holds: sound, and the answer POST's p99 under the target."""
    return sound(s) and (s["answer_post_ms"]["p99"] or 1e9) < TARGETS["answer_p99_ms"]


def report(kind: str, s: dict, args: argparse.Namespace) -> None:
    a, pg = s["answer_post_ms"], s["page_ms"]
    print(f"\n[{kind}] {s['participants']} participants, {s['concurrency']} concurrent, "
          f"{args.workers} workers x {args.threads} threads, think {args.think} s, images {args.image_size} px")
    print(f"  completed {s['completed']}, answers {s['answers_acknowledged']} in {s['seconds']} s "
          f"= {s['answers_per_s']} answers/s")
    print(f"  answer POST p50/p95/p99: {a['p50']}/{a['p95']}/{a['p99']} ms")
    print(f"  page load   p50/p95/p99: {pg['p50']}/{pg['p95']}/{pg['p99']} ms; "
          f"image p99 {s['image_ms']['p99']} ms; requests {s['requests']}")
    print(f"  retries {s['retries']}, 5xx {s['status_5xx']}, errors {s['error_count']}, "
          f"/healthz after {s['health_after']}; load average after {s['load_average_after']}")
    c = s["cpu"]
    print(f"  CPU: client {c['client_s']} s ({c['client_share']:.0%} of {c['cores_x_wall_s']} core-s), "
          f"app server {c['server_s']} s ({c['server_share']:.0%}) = {c['server_ms_per_answer']} ms per answer; "
          "the rest is the database and idle")
    r = s["reference"]
    if r:
        print(f"  reference (static file, same client and server, no database): {r['requests_per_s']} req/s, "
              f"server {r['server_cpu_ms_per_request']} ms and client {r['client_cpu_ms_per_request']} ms CPU "
              f"per request; the survey made {r['requests_per_answer']} requests per answer, so "
              f"{r['static_ms_per_answer']} ms of server CPU per answer if each cost a static file "
              f"(survey: {c['server_vs_static']}x that) and at most {r['ceiling_answers_per_s']} answers/s; "
              f"survey requests ran at {r['survey_share_of_ceiling']:.0%} of the static rate")
    i = s["image_reference"]
    if i:
        print(f"  one stimulus fetched the same way: {i['requests_per_s']} req/s, server "
              f"{i['server_cpu_ms_per_request']} ms CPU per request, {i['failures']} failed")
    print(f"  database check: {'OK' if not s['db_problem_count'] else s['db_problems']}")
    for line in s["server_log_errors"]:
        print(f"  server log: {line}")
    for line in s["server_log_context"]:
        print(f"  server log (raised at): {line.strip()}")


def measured(kind: str, args: argparse.Namespace, work: Path, participants: int, concurrency: int) -> dict:
    t0 = time.monotonic()
    s = run_one(kind, args, work / f"{kind}-{concurrency}-{participants}", participants, concurrency)
    s["wall_s"] = round(time.monotonic() - t0, 1)
    s["load_average_after"] = round(os.getloadavg()[0], 2)
    report(kind, s, args)
    return s


def search(kind: str, args: argparse.Namespace, work: Path) -> dict:
    """The largest number of concurrent participants at human pace that the server holds."""
    levels, good, bad = [], None, None
    n = args.concurrency
    while n <= args.max_concurrency:
        s = measured(kind, args, work, n, n)
        levels.append(s)
        if not holds(s):
            bad = n
            break
        good = n
        if n == args.max_concurrency:
            break
        n = min(2 * n, args.max_concurrency)  # the largest level is always tried
    while good is None and n >= 4:  # the first level failed: halve down to one that holds
        n //= 2
        s = measured(kind, args, work, n, n)
        levels.append(s)
        good, bad = (n, bad) if holds(s) else (None, n)
    for _ in range(args.refine if good and bad else 0):
        n = (good + bad) // 2
        if n in (good, bad):
            break
        s = measured(kind, args, work, n, n)
        levels.append(s)
        good, bad = (n, bad) if holds(s) else (good, n)
    print(f"\n[{kind}] capacity at think {args.think} s: {good or 0} concurrent participants hold "
          f"(answer POST p99 < {TARGETS['answer_p99_ms']} ms, no errors, clean audit)"
          + (f"; {bad} did not" if bad else f"; the largest level tried, {args.max_concurrency} max"))
    for s in levels:
        c = s["cpu"]
        print(f"  {s['concurrency']:5d}: {'holds' if holds(s) else 'fails'}; answer p99 {s['answer_post_ms']['p99']} ms, "
              f"{s['answers_per_s']} answers/s, errors {s['error_count']}, 5xx {s['status_5xx']}, "
              f"audit {'OK' if not s['db_problem_count'] else 'FAILED'}; client {c['client_share']:.0%} of the "
              f"machine; server {c['server_ms_per_answer']} ms CPU per answer"
              + (f" (static-file reference {s['reference']['static_ms_per_answer']} ms, "
                 f"{c['server_vs_static']}x)" if s["reference"] else ""))
    return {"database": kind, "capacity": good or 0, "first_failing": bad, "levels": levels,
            "audit_clean": all(not s["db_problem_count"] for s in levels)}  # overload may fail requests, never lose data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--participants", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=200,
                    help="participants at a time (with --search: the first level; default 200)")
    ap.add_argument("--search", action="store_true",
                    help="find the largest number of concurrent participants that holds (see above)")
    ap.add_argument("--max-concurrency", type=int, default=800, help="--search: the largest level tried")
    ap.add_argument("--refine", type=int, default=1, help="--search: halving steps after the first failure")
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--per-participant", type=int, default=10, help="pairs per participant (default 10)")
    ap.add_argument("--image-size", type=int, default=224, help="stimulus width and height in pixels (default 224)")
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
    if not (1 <= args.participants <= 5000 and 1 <= args.concurrency <= 1000 and args.max_seconds <= 1800
            and 0 <= args.reference <= 100_000 and 8 <= args.image_size <= 1024 and args.max_concurrency <= 1000
            and 0 <= args.refine <= 5):
        ap.error("bounded: --participants 1-5000, --concurrency and --max-concurrency up to 1000, "
                 "--max-seconds <= 1800, --reference 0-100000, --image-size 8-1024, --refine 0-5")
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; load average before: {os.getloadavg()[0]:.2f}")
    out, ok = [], True
    with tempfile.TemporaryDirectory(prefix="camstudy-load-") as tmp:
        for kind in kinds:
            if args.search:
                found = search(kind, args, Path(tmp))
                out.append(found)
                ok = ok and found["audit_clean"] and (found["capacity"] >= TARGETS["capacity"] or args.no_targets)
                continue
            s = measured(kind, args, Path(tmp), args.participants, args.concurrency)
            out.append(s)
            a = s["answer_post_ms"]
            fast = (s["answers_per_s"] or 0) >= TARGETS["answers_per_s"] and (a["p99"] or 1e9) < TARGETS["answer_p99_ms"]
            if not fast:
                print(f"  targets ({TARGETS['answers_per_s']} answers/s, p99 < {TARGETS['answer_p99_ms']} ms): missed")
            ok = ok and sound(s) and (fast or args.no_targets)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "args": vars(args) | {"json": str(args.json)},
                                         "results": out}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The HTTP floor of this machine: the load test's client against gunicorn serving a
WSGI app that does nothing (a fixed 2 kB body), with the survey's gunicorn settings.

    .venv/bin/python benchmarks/http_floor.py [--workers 4] [--threads 4] [--concurrency 20] [--requests 6000]

No Flask, no database: whatever rate this reaches is more than any survey request can
reach on the same machine with the same client; BENCHMARKS.md ("Survey load") sets the
load test's figures against it. Reports requests/s and CPU per request of the client
(threads of ``requests``, as crowdsim uses) and of gunicorn.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

BODY = b"x" * 2000


def app(environ, start_response):  # noqa: ANN001, ANN201 - the WSGI app gunicorn serves
    start_response("200 OK", [("Content-Type", "text/css"), ("Content-Length", str(len(BODY)))])
    return [BODY]


def hammer(url: str, concurrency: int, total: int) -> dict:
    """``concurrency`` threads, each a keep-alive ``requests`` session (as crowdsim
    uses), GET ``url`` about ``total`` times in all as fast as they can: requests/s,
    non-200 answers, and the client's CPU per request."""
    import requests

    per, lock = max(1, total // concurrency), threading.Lock()
    failures: list[int] = []

    def fetch() -> None:
        with requests.Session() as http:
            http.trust_env = False
            for _ in range(per):
                status = http.get(url, timeout=30).status_code
                if status != 200:
                    with lock:
                        failures.append(status)

    threads = [threading.Thread(target=fetch) for _ in range(concurrency)]
    c0, t0 = os.times(), time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, c1, n = time.monotonic() - t0, os.times(), per * concurrency
    return {"requests": n, "requests_per_s": round(n / wall, 1), "failures": len(failures),
            "client_cpu_ms_per_request": round((c1.user + c1.system - c0.user - c0.system) / n * 1000, 2)}


def main(argv: list[str] | None = None) -> int:
    import requests

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--requests", type=int, default=6000)
    args = ap.parse_args(argv)
    if not (1 <= args.workers <= 16 and 1 <= args.concurrency <= 500 and 1 <= args.requests <= 100_000):
        ap.error("bounded: --workers 1-16, --concurrency 1-500, --requests 1-100000")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    here = Path(__file__).resolve().parent
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--chdir", str(here), "-k", "gthread", "-w", str(args.workers),
         "--threads", str(args.threads), "--keep-alive", "5", "-b", f"127.0.0.1:{port}", "http_floor:app"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                requests.get(url, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        c0 = os.times()
        result = hammer(url, args.concurrency, args.requests)
    finally:
        server.terminate()
        server.wait(timeout=30)
    c2, n = os.times(), result["requests"]
    served = (c2.children_user + c2.children_system - c0.children_user - c0.children_system) / n * 1000
    print(f"machine: {os.cpu_count()} cores; gunicorn gthread {args.workers} workers x {args.threads} threads, "
          f"{args.concurrency} client threads")
    print(f"empty WSGI app: {result['requests_per_s']:.0f} requests/s; CPU per request: "
          f"client {result['client_cpu_ms_per_request']:.2f} ms, gunicorn {served:.2f} ms")
    if result["failures"]:
        print(f"error: {result['failures']} requests did not answer 200", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

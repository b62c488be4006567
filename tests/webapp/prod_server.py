"""`camstudy serve --prod` in a subprocess on 127.0.0.1, for the load, fault, S3 and
simulator tests (and benchmarks/load_test.py)."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests import ROOT

# Under --prod /lab needs a password (webapp/recruit.py): the servers here have this one;
# simulated participants pass it (ClientOptions(lab_password=...), --lab-password).
LAB_PASSWORD = "lab-password-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ProdServer:
    proc: subprocess.Popen
    url: str
    admin_token: str
    log: Path

    def health(self, timeout: float = 2.0) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def worker_pids(self) -> list[int]:
        """gunicorn's workers: the children of the master process."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return [int(x) for x in out.stdout.split()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_prod(db_url: str, log: Path, workers: int = 2, threads: int = 4, proxy_hops: int | None = 1,
               extra_env: dict[str, str | None] | None = None, extra_args: list[str] | None = None,
               wait_s: float = 60) -> ProdServer:
    """Start the server (schema migrated and study imported already) and wait for /healthz.
    ``proxy_hops=None`` leaves --proxy-hops out (the command's default)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMSTUDY_")}
    env.update(DATABASE_URL=db_url, PYTHONPATH=str(ROOT), CAMSTUDY_SECRET_KEY="s" * 64,
               CAMSTUDY_COOKIE_SECURE="0", CAMSTUDY_LAB_PASSWORD=LAB_PASSWORD)
    env.update(extra_env or {})
    env = {k: v for k, v in env.items() if v is not None}  # extra_env value None: leave it unset
    cmd = [sys.executable, "-m", "camstudy", "serve", "--prod", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--threads", str(threads),
           *([] if proxy_hops is None else ["--proxy-hops", str(proxy_hops)]), *(extra_args or [])]
    f = log.open("w")
    proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
    server = ProdServer(proc, f"http://127.0.0.1:{port}", "", log)
    deadline = time.monotonic() + wait_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"serve --prod exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if server.health()[0] == 200 and len(server.worker_pids()) >= workers:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"serve --prod did not become healthy in {wait_s} s:\n{log.read_text()}")
        time.sleep(0.2)
    m = re.search(r"\?token=(\S+)", log.read_text())
    server.admin_token = m.group(1) if m else ""
    return server


DEFAULT_PG = "postgresql+psycopg://camstudy:camstudy@127.0.0.1:5432/camstudy_test"


def _admin_engine():
    import sqlalchemy as sa

    base = sa.make_url(os.environ.get("CAMSTUDY_TEST_POSTGRES_URL", DEFAULT_PG))
    return base, sa.create_engine(base, isolation_level="AUTOCOMMIT")


def fresh_postgres(name: str) -> str:
    """A new, empty PostgreSQL database on the test server (so no other test's tables are touched)."""
    import sqlalchemy as sa

    base, admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_postgres(name: str) -> None:
    import sqlalchemy as sa

    _, admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()

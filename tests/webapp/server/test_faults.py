"""Faults under load against `camstudy serve --prod`: a worker killed with SIGKILL, the
PostgreSQL server restarted, connections dropped mid-request. Simulated participants
retry as survey.js does, with the same idempotency key; afterwards every answer they saw
acknowledged is stored exactly once, nothing else is, and the survey carries on."""
from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.webapp.helpers import build_study, migrate_and_import
from tests.webapp.prod_server import LAB_PASSWORD, drop_postgres, fresh_postgres, start_prod

pytestmark = pytest.mark.slow

TOML = ("[survey]\npractice_trials = 1\n\n[assignment]\nratings_per_pair = 6\n"
        "pairs_per_participant = 3\nattention_checks_per_participant = 1\n")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def survey_db(request: pytest.FixtureRequest, tmp_path: Path):
    """(database URL, study dir): a migrated database of its own with a small study imported."""
    name = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'survey.sqlite3'}"
    else:
        request.getfixturevalue("postgres_url")  # skips (or fails under CI) without a server
        name = f"camstudy_fault_{secrets.token_hex(4)}"
        url = fresh_postgres(name)
    study = build_study(tmp_path / "studies", n_pairs=12, n_attention=2, toml=TOML)
    migrate_and_import(url, study)
    yield url, study
    if name:
        drop_postgres(name)


def run_in_background(fn):
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", fn()), daemon=True)
    thread.start()
    return thread, box


def check_all_stored(url: str, result, participants: int) -> None:
    from crowdsim import audit
    from webapp.data.engine import make_engine

    s = result.summary()
    assert s["errors"] == [] and s["completed"] == participants, s
    engine = make_engine(url)
    try:
        assert audit(engine, result) == []
    finally:
        engine.dispose()


def carry_on(server, url: str, study: Path) -> None:
    """The survey still works after the fault: a fresh participant finishes."""
    from crowdsim import ClientOptions, simulate

    after = simulate(server.url, 1, concurrency=1, opts=ClientOptions(lab_password=LAB_PASSWORD, forwarded_for=True), max_seconds=60)
    check_all_stored(url, after, 1)


def test_a_worker_killed_mid_load_loses_and_duplicates_nothing(survey_db, tmp_path):
    from crowdsim import ClientOptions, simulate

    url, study = survey_db
    server = start_prod(url, tmp_path / "server.log", workers=2, threads=2)
    try:
        opts = ClientOptions(lab_password=LAB_PASSWORD, forwarded_for=True, think_s=0.15, backoff_s=0.1, retries=10)
        thread, box = run_in_background(lambda: simulate(server.url, 10, concurrency=5, opts=opts, max_seconds=90))
        time.sleep(1.5)
        victim = server.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        thread.join(timeout=120)
        assert not thread.is_alive(), "the simulation did not finish"
        check_all_stored(url, box["result"], 10)
        deadline = time.monotonic() + 30  # the master replaces the dead worker
        while (victim in server.worker_pids() or len(server.worker_pids()) < 2) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert victim not in server.worker_pids() and len(server.worker_pids()) == 2
        assert server.health()[0] == 200
        carry_on(server, url, study)
    finally:
        server.stop()


# --------------------------------------------------------------------------- dropped connections


class DroppingProxy:
    """A TCP proxy on 127.0.0.1 that cuts the client's connection at a seeded random
    fraction of server responses: the request was processed, maybe stored,
    and the client never hears back — the worst case for double submissions."""

    def __init__(self, upstream_port: int, p_drop: float, seed: int = 0) -> None:
        self.upstream_port, self.p_drop = upstream_port, p_drop
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.drops = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
            threading.Thread(target=self.pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self.pipe, args=(upstream, client, True), daemon=True).start()

    def pipe(self, src: socket.socket, dst: socket.socket, responses: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if responses:
                    with self.lock:
                        drop = self.rng.random() < self.p_drop
                        self.drops += drop
                    if drop:
                        break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):  # shutdown first: it also wakes the other direction's recv()
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self.stopping = True
        self.listener.close()


def test_connections_dropped_mid_request_are_retried_with_the_same_key(survey_db, tmp_path):
    from crowdsim import ClientOptions, simulate

    url, study = survey_db
    server = start_prod(url, tmp_path / "server.log", workers=2, threads=2)
    proxy = DroppingProxy(int(server.url.rsplit(":", 1)[1]), p_drop=0.12, seed=7)
    try:
        opts = ClientOptions(lab_password=LAB_PASSWORD, forwarded_for=True, backoff_s=0.05, retries=12, timeout_s=10)
        result = simulate(f"http://127.0.0.1:{proxy.port}", 8, concurrency=4, opts=opts, max_seconds=120)
        assert proxy.drops > 0
        assert result.summary()["retries"] >= proxy.drops // 2
        check_all_stored(url, result, 8)
        replays = [a for p in result.participants for a in p.acks if a.status == 200]
        assert all(a.idempotency_key for a in replays)  # acknowledged on a retry: stored by the first try
        carry_on(server, url, study)
    finally:
        proxy.close()
        server.stop()


# --------------------------------------------------------------------------- PostgreSQL restart


def pg_cluster() -> tuple[str, str]:
    if os.geteuid() != 0 or not shutil.which("pg_ctlcluster") or not shutil.which("pg_lsclusters"):
        from conftest import missing_piece  # tests/conftest.py

        missing_piece("restarting PostgreSQL needs root and pg_ctlcluster (Debian's postgresql-common)")
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, timeout=30).stdout.split()
    if len(out) < 2:
        from conftest import missing_piece

        missing_piece("pg_lsclusters lists no PostgreSQL cluster")
    return out[0], out[1]


def ensure_running(version: str, cluster: str) -> None:
    status = subprocess.run(["pg_ctlcluster", version, cluster, "status"], capture_output=True, timeout=30)
    if status.returncode != 0:
        subprocess.run(["pg_ctlcluster", version, cluster, "start"], check=True, timeout=120)


@pytest.mark.postgres
def test_postgres_restart_during_sessions_loses_and_duplicates_nothing(postgres_url, tmp_path):
    from crowdsim import ClientOptions, simulate

    version, cluster = pg_cluster()
    name = f"camstudy_fault_{secrets.token_hex(4)}"
    url = fresh_postgres(name)
    server = None
    try:
        study = build_study(tmp_path / "studies", n_pairs=12, n_attention=2, toml=TOML)
        migrate_and_import(url, study)
        server = start_prod(url, tmp_path / "server.log", workers=2, threads=2)
        opts = ClientOptions(lab_password=LAB_PASSWORD, forwarded_for=True, think_s=0.3, backoff_s=0.25, max_backoff_s=2, retries=15)
        thread, box = run_in_background(lambda: simulate(server.url, 6, concurrency=6, opts=opts, max_seconds=120))
        time.sleep(1.5)
        subprocess.run(["pg_ctlcluster", version, cluster, "restart", "-m", "fast"], check=True, timeout=120)
        thread.join(timeout=150)
        assert not thread.is_alive(), "the simulation did not finish"
        check_all_stored(url, box["result"], 6)
        assert server.health()[0] == 200
        carry_on(server, url, study)
    finally:
        ensure_running(version, cluster)  # whatever happened, leave PostgreSQL running
        if server is not None:
            server.stop()
        drop_postgres(name)

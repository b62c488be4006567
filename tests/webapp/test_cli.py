"""Migrations and the command line: `camstudy db`, `camstudy serve`, `flask --app webapp`."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from tests import ROOT
from tests.webapp.helpers import migrate_and_import
from tests.webapp.prod_server import free_port
from webapp.data.engine import make_engine
from webapp.data.migrate import downgrade, migrations_dir, upgrade
from webapp.data.tables import Base



def test_migrations_match_the_models_and_go_down_and_up(any_db_url):
    upgrade(any_db_url)
    engine = make_engine(any_db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"
    downgrade(any_db_url, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(any_db_url)
    assert {"studies", "pairs", "participants", "trials", "responses", "stimuli"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_migrations_are_found_beside_the_package():
    assert migrations_dir() == ROOT / "migrations" and (migrations_dir() / "versions").is_dir()


def env_for(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMSTUDY_")}
    env.update(DATABASE_URL=url, PYTHONPATH=str(ROOT), **extra)
    return env


@pytest.mark.slow
def test_camstudy_serve_prints_both_links_and_serves_the_lab_page(sqlite_url, make_study):
    migrate_and_import(sqlite_url, make_study())
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "camstudy", "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env_for(sqlite_url), cwd=ROOT,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        text = "".join(lines)
        assert f"participant link (lab): http://127.0.0.1:{port}/lab" in text, text
        admin = re.search(r"admin: (http://\S+\?token=\S+)", text)
        assert admin, text
        deadline = time.monotonic() + 20
        while True:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=2).read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert "Participant id" in body
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())  # keeps the session cookie
        dashboard = browser.open(admin.group(1), timeout=5).read().decode()
        assert "Study test-study" in dashboard
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    request_log = proc.stdout.read()  # after the banner: the development server's request lines
    token = admin.group(1).split("?token=")[1]
    assert "GET /admin/ HTTP" in request_log and token not in request_log, request_log


def test_camstudy_serve_without_a_schema_says_what_to_run(sqlite_url):
    out = subprocess.run([sys.executable, "-m", "camstudy", "serve", "--port", str(free_port())], capture_output=True,
                         text=True, env=env_for(sqlite_url), cwd=ROOT, timeout=60)
    assert out.returncode == 1 and "camstudy db upgrade" in out.stderr


def test_flask_cli_finds_the_app_factory(sqlite_url):
    upgrade(sqlite_url)
    out = subprocess.run([sys.executable, "-m", "flask", "--app", "webapp", "routes"], capture_output=True,
                         text=True, env=env_for(sqlite_url, CAMSTUDY_SECRET_KEY="k" * 32), cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "/answers" in out.stdout and "/api/v1/participants/<token>" in out.stdout
    assert "/lab" in out.stdout and "/admin/" in out.stdout


def test_webapp_never_loads_torch_or_the_generator():
    code = ("import sys, webapp, webapp.app, webapp.cli, webapp.admin.views, webapp.survey.api, "
            "webapp.survey.pages, webapp.recruitment.recruit, webapp.data.importer, webapp.data.manifest_check; "
            "bad = [m for m in ('torch', 'torchvision', 'generator') if m in sys.modules]; "
            "assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr

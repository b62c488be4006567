"""A quiet, honest command line: output sent to a file holds no progress-bar redraws and
no colour codes, a busy port fails at once (before any link, token or training), and a
database without a schema is named, with how to point at another."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests import ROOT
from tests.webapp.helpers import migrate_and_import
from tests.webapp.prod_server import free_port

TRAIN_TINY = """
import torch
from generator.inputs.train import fit
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
def batches(gen):
    for _ in range(200):
        yield torch.randn(2, 4, generator=gen), torch.ones(2, 2)
fit(model, batches, steps_per_epoch=200, epochs=3, lr=0.01, seed=0, device=torch.device("cpu"), progress=True)
print("trained")
"""


def env_for(url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMSTUDY_") and k != "DATABASE_URL"}
    env.update(PYTHONPATH=str(ROOT), TERM="xterm-256color")  # a colour terminal type, but a file
    if url:
        env["DATABASE_URL"] = url
    return env


def assert_plain(text: str) -> None:
    assert "\r" not in text, "carriage-return progress updates in a file"
    assert "\x1b[" not in text, "colour codes in a file"


@pytest.fixture
def listening() -> socket.socket:
    """A port another program already serves on."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s


def test_training_progress_to_a_file_has_no_carriage_return_updates(tmp_path):
    log = tmp_path / "train.log"
    with log.open("w") as f:
        subprocess.run([sys.executable, "-c", TRAIN_TINY], stdout=f, stderr=subprocess.STDOUT,
                       env=env_for(), cwd=ROOT, timeout=120, check=True)
    text = log.read_bytes().decode()  # bytes: reading as text would turn each \r into a newline
    assert "trained" in text
    assert_plain(text)
    assert len(text.splitlines()) < 10  # not one line per update either


def wait_for_lab(port: int, proc: subprocess.Popen, log, seconds: float, poll: float) -> None:
    """Until the server started as ``proc`` answers /lab on ``port`` (fails with its log
    if it exits or takes longer than ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=2).read()
            return
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(poll)


@pytest.mark.slow
def test_serve_to_a_file_logs_one_plain_line_per_request_and_no_colour(sqlite_url, make_study, tmp_path):
    migrate_and_import(sqlite_url, make_study())
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "camstudy", "serve", "--port", str(port)],
                                stdout=f, stderr=subprocess.STDOUT, env=env_for(sqlite_url), cwd=ROOT)
        try:
            wait_for_lab(port, proc, log, seconds=30, poll=0.2)
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/no-such-page", timeout=2)
            urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/?token=secret-admin-token", timeout=2)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
    text = log.read_bytes().decode()
    assert_plain(text)
    requests = [line for line in text.splitlines() if '"GET ' in line]
    assert any(line.endswith('"GET /no-such-page HTTP/1.1" 404 -') for line in requests), text
    assert len(requests) >= 3 and all(line.count('"GET ') == 1 for line in requests)
    assert "secret-admin-token" not in text  # a token in a request's query is not logged


def test_serve_on_a_busy_port_fails_before_printing_links_or_tokens(sqlite_url, make_study, listening):
    migrate_and_import(sqlite_url, make_study())
    port = listening.getsockname()[1]
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "camstudy", "serve", "--port", str(port)], capture_output=True,
                         text=True, env=env_for(sqlite_url), cwd=ROOT, timeout=60)
    assert out.returncode == 1
    assert f"127.0.0.1:{port}" in out.stderr and "--port" in out.stderr
    text = out.stdout + out.stderr
    assert "token" not in text and "/lab" not in text and "admin" not in text, text
    assert time.monotonic() - started < 30


def test_demo_on_a_busy_port_fails_before_training(tmp_path, listening):
    port = listening.getsockname()[1]
    out = subprocess.run([sys.executable, "-m", "camstudy", "demo", "--out", str(tmp_path / "demo-out"),
                          "--port", str(port)], capture_output=True, text=True, env=env_for(), cwd=ROOT, timeout=120)
    assert out.returncode == 1 and f"127.0.0.1:{port}" in out.stderr and "PORT=" in out.stderr
    assert "training" not in out.stdout and not (tmp_path / "demo-out").exists()


def test_no_schema_error_names_the_database_and_how_to_point_at_another(tmp_path, capsys):
    from webapp.cli import export_main

    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    assert export_main(["--database-url", url, "--out", str(tmp_path / "r.csv")]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "empty.sqlite") in err
    assert "--database-url" in err and "DATABASE_URL" in err and "camstudy db upgrade" in err
    assert not (tmp_path / "r.csv").exists()


def test_demo_prints_an_export_command_that_works_and_a_report_command_on_its_database(
        sqlite_url, make_study, tmp_path):
    import shlex

    from camstudy.demo import next_steps

    migrate_and_import(sqlite_url, make_study())
    out = tmp_path / "demo-out"
    lines = [line.strip() for line in next_steps(out, sqlite_url).splitlines()]
    assert sqlite_url in lines[1]
    export = next(shlex.split(line) for line in lines if " export --" in line)
    report = next(shlex.split(line) for line in lines if " report --" in line)
    run = subprocess.run(export, capture_output=True, text=True, env=env_for(), cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert (out / "responses.csv").is_file()
    assert report[report.index("--db") + 1] == sqlite_url
    assert report[report.index("--manifest") + 1] == str(out / "study" / "manifest.json")


@pytest.mark.slow
def test_demo_to_a_file_is_plain_and_ends_with_export_and_report_commands(tmp_path, trained_demo_model):
    """`make demo > demo.log`: no progress redraws or colours, request lines in
    demo-out/access.log (not in the output), and the last lines are the commands."""
    import shutil

    out = tmp_path / "demo-out"
    out.mkdir()
    shutil.copy(trained_demo_model[0], out / "demo-model.pt")
    port, log = free_port(), tmp_path / "demo.log"
    with log.open("w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "camstudy", "demo", "--out", str(out), "--port", str(port),
                                 "--simulated", "1"], stdout=f, stderr=subprocess.STDOUT, env=env_for(), cwd=ROOT)
        try:
            wait_for_lab(port, proc, log, seconds=400, poll=0.5)
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl+C
            proc.wait(timeout=30)
    text = log.read_bytes().decode()
    assert_plain(text)
    assert "GET /lab" not in text and "GET /lab HTTP/1.1" in (out / "access.log").read_text()
    url = f"sqlite:///{out / 'survey.sqlite'}"
    last = text.rstrip().splitlines()[-2:]
    assert " export --database-url " + url in last[0] and " report --db " + url in last[1], text[-800:]

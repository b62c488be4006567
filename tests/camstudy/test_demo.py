"""`camstudy demo` puts a few simulated sessions in, once, over real HTTP."""
from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests import ROOT
from tests.webapp.helpers import build_study  # the webapp tests' small study (no torch)
from tests.webapp.prod_server import free_port

TOKEN = "demo-admin-token-123"
TWELVE_OF_TWELVE = '>12</span> of <span data-count="participants">12</span> participants are simulated'


def simulated_rows(url: str) -> list[tuple[str, str | None]]:
    """(participant id, completed_at) of every simulated participant in the database."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT participant_id, completed_at FROM participants WHERE participant_id LIKE 'sim-%'")).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_seeding_adds_simulated_sessions_once(tmp_path, capsys):
    from camstudy import demo

    study = build_study(tmp_path / "studies")
    url = f"sqlite:///{tmp_path / 'survey.sqlite'}"
    assert demo.setup_database(url, study) == 0

    assert demo.seed_simulated(url, study, 3) == 3
    rows = simulated_rows(url)
    assert sorted(pid for pid, _ in rows) == ["sim-demo-00000", "sim-demo-00001", "sim-demo-00002"]
    assert all(done for _, done in rows)
    assert "simulated sessions: added 3" in capsys.readouterr().out

    assert demo.seed_simulated(url, study, 3) == 0
    assert len(simulated_rows(url)) == 3
    assert "3 already in the database" in capsys.readouterr().out
    assert demo.setup_database(url, study) == 0  # a second demo run imports the unchanged study again
    assert demo.seed_simulated(url, study, 5) == 0 and len(simulated_rows(url)) == 3


def test_zero_adds_none_and_a_negative_count_is_a_usage_error(tmp_path, capsys):
    from camstudy import demo

    study = build_study(tmp_path / "studies")
    url = f"sqlite:///{tmp_path / 'survey.sqlite'}"
    assert demo.setup_database(url, study) == 0
    assert demo.seed_simulated(url, study, 0) == 0 and simulated_rows(url) == []
    with pytest.raises(SystemExit):
        demo.main(["--simulated", "-1"])
    assert "--simulated must be between 0 and 1000" in capsys.readouterr().err


# --------------------------------------------------------------------------- the real command


def run_demo_until_serving(out: Path, port: int, *extra: str) -> tuple[subprocess.Popen, str]:
    """Start `camstudy demo` and return once it serves (the process keeps running)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMSTUDY_") and k != "DATABASE_URL"}
    env.update(PYTHONPATH=str(ROOT), CAMSTUDY_ADMIN_TOKEN=TOKEN)
    proc = subprocess.Popen(
        [sys.executable, "-m", "camstudy", "demo", "--out", str(out), "--port", str(port), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    text, deadline = "", time.monotonic() + 400
    while "participant link (lab)" not in text:
        try:
            text += lines.get(timeout=1)
        except queue.Empty:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"camstudy demo did not start serving:\n{text}")
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            break
        except OSError:
            time.sleep(0.2)
    return proc, text


def admin_page(port: int) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/admin/", headers={"Authorization": f"Bearer {TOKEN}"})
    return urllib.request.urlopen(req, timeout=10).read().decode()


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=20)


@pytest.mark.slow
def test_make_demo_twice_has_the_simulated_sessions_once(tmp_path, trained_demo_model):
    import shutil

    from analysis import read_database

    out = tmp_path / "demo-out"
    out.mkdir()
    shutil.copy(trained_demo_model[0], out / "demo-model.pt")
    port = free_port()

    proc, text = run_demo_until_serving(out, port)
    try:
        assert re.search(r"simulated sessions: added 12 \(12 completed.*marked as simulated", text), text
        assert text.index("simulated sessions: added") < text.index("participant link (lab)")
        assert TWELVE_OF_TWELVE in admin_page(port)
    finally:
        stop(proc)
    frame = read_database(f"sqlite:///{out / 'survey.sqlite'}").frame
    larger = frame[frame["is_comparison"] & frame["question_id"].eq("larger")]["chose_gradcam"].dropna()
    assert len(larger) > 200 and larger.mean() > 0.6  # the response model: Grad-CAM looks larger (p 0.7)

    proc, text = run_demo_until_serving(out, port)
    try:
        assert "simulated sessions: 12 already in the database" in text and "none added" in text, text
        assert TWELVE_OF_TWELVE in admin_page(port)
    finally:
        stop(proc)
    assert len(simulated_rows(f"sqlite:///{out / 'survey.sqlite'}")) == 12

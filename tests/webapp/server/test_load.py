"""benchmarks/load_test.py itself, at a size CI can afford, on SQLite and PostgreSQL:
the server under simulated participants loses nothing, duplicates nothing, answers no
5xx, and the report has every figure BENCHMARKS.md quotes (the speed targets are
checked only in the full-size benchmark, never here)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tests import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_load_test_runs_and_its_database_audit_passes(kind, request, tmp_path):
    env = None
    if kind == "postgres":
        import os

        env = {**os.environ, "CAMSTUDY_TEST_POSTGRES_URL": request.getfixturevalue("postgres_url")}
    out = tmp_path / "load.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/load_test.py", "--db", kind, "--participants", "12", "--concurrency", "6",
         "--pairs", "20", "--image-size", "64", "--reference", "300", "--max-seconds", "120", "--no-targets",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (result,) = json.loads(out.read_text())["results"]
    assert result["completed"] == 12 and result["answers_acknowledged"] == 12 * 12
    assert result["db_problem_count"] == 0 and result["status_5xx"] == 0 and result["error_count"] == 0
    assert result["answer_post_ms"]["p99"] > 0 and result["cpu"]["server_s"] > 0
    ref = result["reference"]
    assert ref["failures"] == 0 and ref["requests_per_s"] > 0 and result["image_reference"]["failures"] == 0
    assert ref["static_ms_per_answer"] > 0 and result["cpu"]["server_ms_per_answer"] > 0
    # trials after the first are shown in place: 60 requests for 12 answers, not 70; under
    # --prod /lab takes its password first: 2 more requests per participant (62 for 12)
    assert ref["requests_per_answer"] <= round(62 / 12, 2)
    assert "database check: OK" in proc.stdout and "reference (static file" in proc.stdout


def test_capacity_search_runs_and_reports_the_largest_level_that_held(tmp_path):
    """`--search` at a size CI can afford: levels double from 2 to 4 concurrent people who
    pause per trial; the capacity is the largest level that held (p99 < 250 ms, no errors,
    clean audit), whatever this machine's speed."""
    out = tmp_path / "search.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/load_test.py", "--db", "sqlite", "--search", "--think", "0.2",
         "--concurrency", "2", "--max-concurrency", "4", "--pairs", "20", "--image-size", "64",
         "--reference", "100", "--max-seconds", "120", "--no-targets", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (found,) = json.loads(out.read_text())["results"]
    levels = found["levels"]
    assert found["audit_clean"] and [s["concurrency"] for s in levels][:1] == [2]
    held = [s["concurrency"] for s in levels
            if s["answer_post_ms"]["p99"] < 250 and not (s["error_count"] or s["status_5xx"] or s["db_problem_count"])]
    assert found["capacity"] == max(held, default=0)
    for s in levels:
        assert s["cpu"]["server_ms_per_answer"] > 0 and s["reference"]["static_ms_per_answer"] > 0
    assert f"capacity at think 0.2 s: {found['capacity']} concurrent participants" in proc.stdout

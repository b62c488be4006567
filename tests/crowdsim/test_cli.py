"""`camstudy simulate --url` against `camstudy serve --prod` (gunicorn, two workers)."""
from __future__ import annotations

import json

import pytest

from tests.webapp.prod_server import LAB_PASSWORD, start_prod


@pytest.mark.slow
def test_serve_prod_and_simulate_cli(any_db_url, make_app, make_study, tmp_path, capsys):
    from crowdsim.cli import main as simulate_main
    from webapp import stored_answers

    study = make_study(n_pairs=8, n_attention=1)
    make_app(any_db_url, study)
    server = start_prod(any_db_url, tmp_path / "server.log", workers=2, threads=2)
    try:
        assert len(server.worker_pids()) == 2
        status = simulate_main(["--url", server.url, "--participants", "4", "--concurrency", "2",
                                "--manifest", str(study), "--json", "--max-seconds", "120",
                                "--lab-password", LAB_PASSWORD])
        summary = json.loads(capsys.readouterr().out)
        assert status == 0, summary
        assert summary["completed"] == 4 and summary["status_5xx"] == 0
        assert summary["answers_acknowledged"] == 4 * 6  # 1 practice + 4 pairs + 1 check each
        ids = list(stored_answers(any_db_url, ""))  # every participant in the database
        assert len(ids) == 4 and all(i.startswith("sim-") for i in ids)  # marked as simulated
    finally:
        server.stop()

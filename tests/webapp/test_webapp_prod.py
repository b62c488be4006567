"""Production serving: /healthz, ProxyFix behind a proxy, `camstudy serve --prod` with
several gunicorn workers, and `camstudy simulate --url` taking the survey over HTTP."""
from __future__ import annotations

import json

import pytest

from prod_server import LAB_PASSWORD, start_prod


def test_healthz_says_ok_when_the_database_answers(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json()["status"] == "ok"


def test_healthz_says_503_when_the_database_is_gone(tmp_path):
    from webapp import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "k", "CAMSTUDY_CHECK_SCHEMA": False,
                      "DATABASE_URL": "postgresql+psycopg://nobody:x@127.0.0.1:1/none?connect_timeout=2"})
    r = app.test_client().get("/healthz")
    assert r.status_code == 503 and r.get_json() == {"status": "unavailable", "database": "unreachable"}


def test_proxy_fix_trusts_the_configured_hops_only(make_app, sqlite_url):
    from webapp.prod import create_prod_app

    make_app(sqlite_url)  # migrated, study imported
    config = {"TESTING": True, "SECRET_KEY": "k", "DATABASE_URL": sqlite_url}
    behind = create_prod_app(config, proxy_hops=1).test_client()
    r = behind.get("/healthz", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert r.headers.get("Strict-Transport-Security")  # the proxy's TLS counts: request.is_secure
    direct = create_prod_app(config, proxy_hops=0).test_client()
    r = direct.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in r.headers  # a client cannot claim TLS by itself


@pytest.mark.slow
def test_serve_prod_and_simulate_cli(any_db_url, make_app, make_study, tmp_path, capsys):
    from webapp.db import make_engine
    from webapp.simulate import main as simulate_main

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
        engine = make_engine(any_db_url)
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from webapp.db import Participant

        with Session(engine) as s:
            ids = s.scalars(select(Participant.participant_id)).all()
        engine.dispose()
        assert len(ids) == 4 and all(i.startswith("sim-") for i in ids)  # marked as simulated
    finally:
        server.stop()


def test_response_model_follows_the_manifest(make_study):
    import random

    from webapp.simulate import ResponseModel, StudyView, choose

    study = make_study(n_pairs=4, n_attention=1)
    manifest = json.loads((study / "manifest.json").read_text())
    view, rng = StudyView(manifest), random.Random(0)
    model = ResponseModel({"larger": 1.0, "focused": 0.0}, p_same=0.0, attention_accuracy=1.0)
    for pair in manifest["pairs"]:
        urls = [f"/stimuli/{pair['sides'][s]['sha256'][:32]}.png" for s in "AB"]
        got = choose(model, view, rng, urls, ["larger", "focused"], ["A", "B", "same"])
        if pair["is_attention_check"]:
            assert got == pair["expected"]
        else:
            gradcam = "A" if pair["sides"]["A"]["method"] == "gradcam" else "B"
            assert got["larger"] == gradcam and got["focused"] != gradcam


def test_audit_reports_over_allocation_of_real_and_practice_trials(app, walker):
    """The load and fault tests trust audit(): it must see a participant with more
    trials (or practice trials) than the settings allow."""
    from sqlalchemy import insert, select

    from webapp import db_engine
    from webapp.db import Trial, db
    from webapp.simulate import SimulationResult, Timings, audit

    walker.begin_lab_session("OVER1")
    engine = db_engine(app)
    nothing = SimulationResult([], Timings(), 1.0, "none")
    assert audit(engine, nothing) == []
    with app.app_context():
        first = db.session.scalars(select(Trial).order_by(Trial.trial_index)).first()
        base = {"participant_pk": first.participant_pk, "pair_pk": first.pair_pk, "is_attention_check": False,
                "swapped": False, "left_method": "gradcam", "right_method": "hirescam"}
        db.session.execute(insert(Trial), [{**base, "trial_index": 900, "image_id": "extra-1", "is_practice": False},
                                           {**base, "trial_index": -90, "image_id": "extra-2", "is_practice": True}])
        db.session.commit()
    problems = audit(engine, nothing)
    assert any("OVER1" in p and " trials, more than" in p and "practice" not in p for p in problems), problems
    assert any("OVER1" in p and "practice trials, more than" in p for p in problems), problems

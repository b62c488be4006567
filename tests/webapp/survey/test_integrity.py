"""Only real people at human speed count (issue 13), each guarantee tested by its attack:

- a full-speed script (the simulator at full speed, claiming human rt_ms) is flagged in
  the admin area and excluded by the report's default rules, measured by the server's clock;
- a forged MTurk participant is exported as unverified and left out of the primary
  analysis, without taking the real worker's answers with it;
- `/lab` under `serve --prod` with crowd sources is closed without the lab password;
- the questionnaire answers are in both exports and the admin area.
"""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlalchemy import select

from tests.webapp.helpers import Walker, csrf_of, migrate_and_import
from webapp.data import export
from webapp.data.engine import db

TOKEN = "admin-token-for-integrity-tests"
TOML = (
    "[recruitment]\nsources = ['lab']\n[survey]\npractice_trials = 0\n"
    "[assignment]\nratings_per_pair = 20\npairs_per_participant = 3\nattention_checks_per_participant = 1\n"
)


def report_flow(tmp_path, rows_csv: str, config: str | None = None) -> dict[str, int]:
    """Run the report on an export; its flow table as {label: participants}."""
    from analysis.cli import report_main as main

    path = tmp_path / "responses.csv"
    path.write_text(rows_csv)
    out = tmp_path / "report"
    argv = ["--responses", str(path), "--out", str(out), "--no-mixed", "--no-figures"]
    if config:
        (tmp_path / "study.toml").write_text(config)
        argv += ["--config", str(tmp_path / "study.toml")]
    assert main(argv) == 0
    doc = json.loads((out / "results.json").read_text())
    return {s["label"]: s["participants"] for s in doc["flow"]["steps"]}


def csv_export(app) -> str:
    with app.app_context():
        return export.to_csv(db.session)


def exported(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.split("\n", 1)[1])))


def test_a_full_speed_script_is_flagged_live_and_excluded_by_the_report(
        make_app, make_study, any_db_url, serve_live, tmp_path):
    from crowdsim import ClientOptions, ResponseModel, simulate

    study = make_study(n_pairs=6, n_attention=1, toml=TOML)
    app = make_app(any_db_url, study, CAMSTUDY_ADMIN_TOKEN=TOKEN)
    base = serve_live(app)
    manifest = json.loads((study / "manifest.json").read_text())
    script = simulate(base, 2, ResponseModel(rt_median_ms=2800), manifest, concurrency=2, run_id="script")
    person = simulate(base, 1, ResponseModel(), manifest, concurrency=1, opts=ClientOptions(think_s=2.0),
                      run_id="person")
    assert not script.errors and not person.errors
    assert script.seconds < 5 < person.seconds

    rows = exported(csv_export(app))
    by_id: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_id.setdefault(r["participant_id"], []).append(r)
    assert len(by_id) == 3
    for pid, answers in by_id.items():
        claimed = sorted(int(r["rt_ms"]) for r in answers)
        server = sorted(int(r["server_ms"]) for r in answers)
        if "script" in pid:  # claims human response times; the server saw otherwise
            assert claimed[len(claimed) // 2] > 1000 and server[len(server) // 2] < 1000, (claimed, server)
        else:
            assert server[0] >= 1000, server

    admin = app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert admin.get("/admin/api/counts", headers=headers).get_json()["too_fast"] == 2
    page = admin.get("/admin/", headers=headers).get_data(as_text=True)
    flagged = re.findall(r"<tr[^>]*data-too-fast[^>]*><td>([^<]+)", page)
    assert sorted(f.strip() for f in flagged) == ["sim-script-00000", "sim-script-00001"]
    assert "median server-side time per trial under 1000 ms" in page

    flow = report_flow(tmp_path, csv_export(app))
    rule = next(label for label in flow if label.startswith("Excluded: median server-side time per trial under 1000 ms"))
    assert flow[rule] == 2 and flow["Analysed"] == 1


def test_a_forged_mturk_session_is_unverified_and_left_out_of_the_primary_analysis(
        make_app, make_study, any_db_url, tmp_path):
    """A forged session under VICTIM's WorkerId, then the real VICTIM (verified by MTurk at
    start), both finish; the report keeps exactly the real one's answers."""
    import boto3
    from botocore.stub import Stubber

    mturk = boto3.client("mturk", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    toml = TOML.replace("sources = ['lab']", "sources = ['mturk']")
    app = make_app(any_db_url, make_study(toml=toml), CAMSTUDY_MTURK_VERIFY="1",
                   CAMSTUDY_MTURK_CLIENT_FACTORY=lambda sandbox: mturk)
    with Stubber(mturk) as stub:  # the forger comes first (a verified worker would refuse a second assignment)
        stub.add_client_error("get_assignment", "RequestError", "Assignment FAKE does not exist.", 400,
                              expected_params={"AssignmentId": "FAKE"})
        stub.add_response("get_assignment", {"Assignment": {
            "AssignmentId": "REALASSIGN", "WorkerId": "VICTIM", "HITId": "HIT1", "AssignmentStatus": "Submitted"}},
            {"AssignmentId": "REALASSIGN"})
        for assignment in ("FAKE", "REALASSIGN"):
            walker = Walker(app.test_client())
            r = walker.client.get("/mturk/", query_string={"assignmentId": assignment, "hitId": "HIT1",
                                  "workerId": "VICTIM", "turkSubmitTo": "https://workersandbox.mturk.com"})
            walker.token = r.headers["Location"].split("/s/")[1].split("/")[0]
            walker.consent_and_instructions()
            walker.finish({"larger": "A", "focused": "A"} if assignment == "FAKE" else None)
        stub.assert_no_pending_responses()
    rows = exported(csv_export(app))
    assert {r["verification"] for r in rows} == {"verified", "unverified"}
    assert {r["participant_id"] for r in rows} == {"VICTIM"}
    flow = report_flow(tmp_path, csv_export(app), "[analysis]\nmin_median_server_ms = 0\n")  # walkers are scripts
    identity = next(label for label in flow if label.startswith("Excluded: crowd identity"))
    assert flow["Started (answered at least one trial)"] == 1 and flow[identity] == 0 and flow["Analysed"] == 1
    kept = report_answers(tmp_path)
    assert kept == sum(1 for r in rows if r["verification"] == "verified") > 0


def report_answers(tmp_path) -> int:
    doc = json.loads((tmp_path / "report" / "results.json").read_text())
    return doc["flow"]["steps"][-1]["answers"]


def test_questionnaire_answers_are_in_both_exports_and_the_admin_area(make_app, make_study, sqlite_url):
    app = make_app(sqlite_url, make_study(toml=TOML), CAMSTUDY_ADMIN_TOKEN=TOKEN)
    walker = Walker(app.test_client()).begin_lab_session("Q1")
    for _ in range(10):
        state = walker.current()
        if "/trial/" not in state["next_url"]:
            break
        assert walker.answer(state["next_trial"]).status_code == 201
    comment = '=HYPERLINK("http://x.example") said, "fine"'
    assert walker.form(state["next_url"], {"familiarity": "expert", "comments": comment}).status_code == 302
    rows = exported(csv_export(app))
    assert {(r["questionnaire_familiarity"], r["questionnaire_comments"]) for r in rows} == {("expert", "'" + comment)}
    with app.app_context():
        doc = json.loads(export.to_json(db.session))
    assert {(r["questionnaire_familiarity"], r["questionnaire_comments"]) for r in doc["rows"]} == {("expert", comment)}
    page = app.test_client().get("/admin/", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    assert "expert" in page and "HYPERLINK(&#34;http://x.example&#34;) said" in page


# --------------------------------------------------------------------------- /lab closed


CROWD_TOML = TOML.replace("sources = ['lab']", "sources = ['lab', 'mturk']")


def test_lab_is_closed_without_a_password_when_crowd_sources_are_on(make_app, make_study, sqlite_url):
    app = make_app(sqlite_url, make_study(toml=CROWD_TOML))
    r = app.test_client().get("/lab")
    assert r.status_code == 403 and "CAMSTUDY_LAB_PASSWORD" in r.get_data(as_text=True)


def test_lab_under_prod_asks_for_the_password(make_app, make_study, sqlite_url):
    from webapp.server.prod import create_prod_app

    make_app(sqlite_url, make_study(toml=TOML))  # lab only, but production
    config = {"TESTING": True, "SECRET_KEY": "k", "DATABASE_URL": sqlite_url, "RATELIMIT_ENABLED": False}
    assert create_prod_app(config, proxy_hops=0).test_client().get("/lab").status_code == 403
    locked = create_prod_app({**config, "CAMSTUDY_LAB_PASSWORD": "pw"}, proxy_hops=0).test_client()
    page = locked.get("/lab").get_data(as_text=True)
    assert 'name="password"' in page and 'name="participant_id"' not in page
    assert create_app_lab_start(locked, "alice").status_code == 200  # the password form again: no session
    assert locked.post("/lab", data={"csrf_token": csrf_of(page), "password": "pw"}).status_code == 302
    assert create_app_lab_start(locked, "alice").status_code == 302


def create_app_lab_start(client, pid: str):
    page = client.get("/lab").get_data(as_text=True)
    return client.post("/lab", data={"csrf_token": csrf_of(page), "participant_id": pid})


@pytest.mark.slow
def test_lab_without_the_password_is_refused_under_serve_prod_with_crowd_sources(make_study, tmp_path):
    """The attack of issue 13 on a real `camstudy serve --prod`: a CSRF token from any form
    of the site, then POST /lab participant_id=alice. It must not hand out alice's session."""
    import requests

    from tests.webapp.prod_server import start_prod

    url = f"sqlite:///{tmp_path / 'prod.sqlite3'}"
    migrate_and_import(url, make_study(toml=CROWD_TOML))
    server = start_prod(url, tmp_path / "server.log", workers=1, threads=2,
                        extra_env={"CAMSTUDY_LAB_PASSWORD": None, "CAMSTUDY_ADMIN_PASSWORD": TOKEN})
    try:
        http = requests.Session()
        token = csrf_of(http.get(f"{server.url}/admin/login").text)
        get = http.get(f"{server.url}/lab")
        post = http.post(f"{server.url}/lab", data={"csrf_token": token, "participant_id": "alice"},
                         allow_redirects=False)
        assert get.status_code == 403 and post.status_code == 403, (get.status_code, post.status_code)
        assert "/s/" not in post.headers.get("Location", "") and "/s/" not in post.text
    finally:
        server.stop()
    engine_url = url
    import sqlalchemy as sa

    engine = sa.create_engine(engine_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM participants")).scalar() == 0
    engine.dispose()


# --------------------------------------------------------------------------- server-side clock


def test_only_the_current_trial_starts_its_clock_and_an_unserved_answer_counts_as_zero(app):
    from webapp.data.tables import Trial

    def trials() -> dict[int, Trial]:
        with app.app_context():
            return {t.trial_index: t for t in db.session.scalars(select(Trial).order_by(Trial.trial_index))}

    walker = Walker(app.test_client()).begin_lab_session("CLOCK1")  # practice trial -1 comes first
    assert walker.answer(-1).status_code == 201  # never served: the answer arrived "instantly"
    assert trials()[-1].server_ms == 0
    ahead = walker.client.get(f"/api/v1/participants/{walker.token}/trials/2")
    assert ahead.status_code == 200 and trials()[2].served_at is None  # fetching ahead starts nothing
    assert walker.client.get(f"/s/{walker.token}/trial/0").status_code == 200
    served = trials()[0].served_at
    assert served is not None
    import time

    time.sleep(0.3)
    assert walker.answer(0).status_code == 201
    after = trials()
    assert after[0].server_ms >= 300 and after[0].served_at == served
    assert after[1].served_at == after[0].answered_at  # shown in place by the reply: its clock starts there


def test_upgrading_from_0004_keeps_every_answer(any_db_url):
    """Migration 0006 rebuilds the participants table on SQLite (batch mode); with foreign
    keys on, dropping the old table would cascade into every trial and answer."""
    import sqlalchemy as sa
    from alembic import command

    from webapp.data.migrate import alembic_config

    cfg = alembic_config(any_db_url)
    command.upgrade(cfg, "0004")
    engine = sa.create_engine(any_db_url)
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO studies (id, study_id, manifest_sha256, manifest, settings, study_dir, seed, "
                          "allocation_serial, imported_at) VALUES (1, 's', 'x', '{}', '{}', 'd', 1, 0, '2026-01-01')"))
        c.execute(sa.text("INSERT INTO stimuli (id, study_pk, name, file, sha256) VALUES (1, 1, 'n', 'f', 'h')"))
        c.execute(sa.text("INSERT INTO pairs (id, study_pk, pair_id, image_id, is_attention_check, a_pk, b_pk, "
                          "a_method, b_method) VALUES (1, 1, 'p', 'i', false, 1, 1, 'gradcam', 'hirescam')"))
        c.execute(sa.text("INSERT INTO participants (id, study_pk, participant_id, source, source_data, token, "
                          "created_at, last_seen_at, completion_code) VALUES (1, 1, 'W1', 'mturk', "
                          "'{\"assignmentId\": \"A1\", \"hitId\": \"H\"}', 't1', '2026-01-01', '2026-01-01', 'C')"))
        c.execute(sa.text("INSERT INTO trials (id, participant_pk, pair_pk, image_id, trial_index, is_practice, "
                          "is_attention_check, swapped, left_method, right_method, answered_at) "
                          "VALUES (1, 1, 1, 'i', 0, false, false, false, 'gradcam', 'hirescam', '2026-01-01')"))
        c.execute(sa.text("INSERT INTO responses (id, participant_pk, trial_pk, question_id, response_side, "
                          "response_method, rt_ms, idempotency_key, answered_at) "
                          "VALUES (1, 1, 1, 'larger', 'A', 'gradcam', 900, 'kkkkkkkk', '2026-01-01')"))
    command.upgrade(cfg, "head")
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT COUNT(*) FROM responses")).scalar() == 1
        assert c.execute(sa.text("SELECT COUNT(*) FROM trials")).scalar() == 1
        assert c.execute(sa.text("SELECT claim, verification FROM participants")).one() == ("A1", "unverified")
        assert c.execute(sa.text("SELECT verification, server_ms FROM responses_export")).one() == ("unverified", None)
    engine.dispose()


def test_simulate_against_a_locked_lab_names_the_password_option(make_app, make_study, sqlite_url, serve_live):
    from crowdsim import ClientOptions, simulate
    from webapp.app import create_app

    app = make_app(sqlite_url, make_study(toml=CROWD_TOML))
    result = simulate(serve_live(app), 1, max_seconds=30)
    assert len(result.errors) == 1 and "pass --lab-password" in result.errors[0]
    locked = serve_live(create_app({**app.config, "CAMSTUDY_LAB_PASSWORD": "pw"}))
    assert "pass --lab-password" in simulate(locked, 1, max_seconds=30).errors[0]
    done = simulate(locked, 1, opts=ClientOptions(lab_password="pw"), max_seconds=30)
    assert not done.errors and done.participants[0].completed

"""The survey as an MTurk ExternalQuestion: preview creates nothing, the worker's
assignment resumes, a repeat worker is refused, the completion page posts to
externalSubmit, and the pages may be framed by the MTurk worker sites only."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from webapp.db import Participant, db
from webapp_helpers import Walker, assert_crowd_sections_refused, import_into

TOML = (
    "[recruitment]\nsources = ['lab', 'mturk']\n"
    "[assignment]\npairs_per_participant = 2\nattention_checks_per_participant = 1\n"
    "[survey]\npractice_trials = 0\n"
)
SANDBOX = "https://workersandbox.mturk.com"


def params(assignment="A1", worker="W1", hit="H1", submit_to=SANDBOX) -> dict[str, str]:
    return {"assignmentId": assignment, "hitId": hit, "workerId": worker, "turkSubmitTo": submit_to}


@pytest.fixture
def mturk_app(make_app, make_study, sqlite_url):
    return make_app(sqlite_url, make_study(toml=TOML))


def participants(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Participant.id)))


def start(client, **kw) -> str:
    r = client.get("/mturk/", query_string=params(**kw))
    assert r.status_code == 302 and "/s/" in r.headers["Location"], r.get_data(as_text=True)
    return r.headers["Location"].split("/s/")[1].split("/")[0]


def test_preview_creates_nothing_and_says_accept_the_hit(mturk_app):
    client = mturk_app.test_client()
    r = client.get("/mturk/", query_string={"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "H1"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Accept the HIT to begin" in html
    assert "Which explanation is more focused?" in html and 'alt="Image A"' in html
    assert participants(mturk_app) == 0 and "Set-Cookie" not in r.headers


def test_framing_allows_the_mturk_worker_sites_and_nothing_else(mturk_app):
    client = mturk_app.test_client()
    token = start(client)
    for r in (client.get("/mturk/", query_string={"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"}),
              client.get(f"/s/{token}/consent")):
        csp = r.headers["Content-Security-Policy"]
        ancestors = re.search(r"frame-ancestors ([^;]+)", csp).group(1).split()
        assert sorted(ancestors) == ["https://worker.mturk.com", "https://workersandbox.mturk.com", "https://www.mturk.com"]
        assert "X-Frame-Options" not in r.headers
    lab = client.get("/lab")
    assert "frame-ancestors 'none'" in lab.headers["Content-Security-Policy"] and lab.headers["X-Frame-Options"] == "DENY"


def test_worker_completes_and_the_done_page_posts_to_external_submit(mturk_app):
    client = mturk_app.test_client()
    walker = Walker(client)
    walker.token = start(client, assignment="ASSIGN42", worker="WORKER42")
    walker.consent_and_instructions()
    walker.finish()
    html = client.get(f"/s/{walker.token}/done").get_data(as_text=True)
    form = re.search(r'<form method="post" action="([^"]+)" id="mturk-submit">(.*?)</form>', html, re.S)
    assert form and form.group(1) == f"{SANDBOX}/mturk/externalSubmit"
    assert 'name="assignmentId" value="ASSIGN42"' in form.group(2) and 'name="completion_code"' in form.group(2)
    again = client.get(f"/s/{walker.token}/done").get_data(as_text=True)  # retry from the same page
    assert form.group(0) in again
    assert f"form-action 'self' https://worker.mturk.com {SANDBOX}" in client.get(f"/s/{walker.token}/done").headers[
        "Content-Security-Policy"]
    with mturk_app.app_context():
        p = db.session.scalars(select(Participant)).one()
        assert (p.source, p.participant_id, p.source_data["assignmentId"]) == ("mturk", "WORKER42", "ASSIGN42")


def test_forms_work_without_cookies_inside_the_frame(mturk_app):
    """Third-party cookies blocked: the URL token alone carries identity and CSRF."""
    client = mturk_app.test_client(use_cookies=False)
    walker = Walker(client)
    walker.token = start(client)
    walker.consent_and_instructions()
    assert walker.current()["next_url"].endswith("/trial/0")


def test_session_cookie_is_samesite_none_and_secure_in_mturk_mode(mturk_app):
    client = mturk_app.test_client()
    token = start(client)
    cookie = client.get(f"/s/{token}/").headers["Set-Cookie"]
    assert "SameSite=None" in cookie and "Secure" in cookie


def test_same_assignment_resumes_where_the_worker_was(mturk_app):
    client = mturk_app.test_client()
    walker = Walker(client)
    walker.token = start(client)
    walker.consent_and_instructions()
    assert walker.answer(0).status_code == 201
    assert start(client) == walker.token  # reload of the HIT frame
    assert walker.current()["next_url"].endswith("/trial/1")
    assert participants(mturk_app) == 1


def test_a_second_assignment_by_the_same_worker_is_refused(mturk_app):
    client = mturk_app.test_client()
    walker = Walker(client)
    walker.token = start(client, assignment="FIRST", worker="REPEAT1")
    walker.consent_and_instructions()
    r = client.get("/mturk/", query_string=params(assignment="SECOND", worker="REPEAT1"))
    assert r.status_code == 200 and "already taken part" in r.get_data(as_text=True)
    assert participants(mturk_app) == 1


def test_workers_of_listed_earlier_studies_are_refused(make_app, make_study, sqlite_url):
    earlier = make_study(study_id="earlier-study", toml=TOML)
    app = make_app(sqlite_url, earlier)
    start(app.test_client(), worker="VETERAN")
    later = make_study(study_id="later-study", toml=TOML + "[mturk]\nexclude_studies = ['earlier-study']\n")
    import_into(sqlite_url, later)
    r = app.test_client().get("/mturk/", query_string={**params(assignment="NEW", worker="VETERAN"), "study": "later-study"})
    assert "already taken part" in r.get_data(as_text=True)
    assert start(app.test_client(), worker="NEWCOMER") and participants(app) == 2


def test_turk_submit_to_must_be_a_worker_site(mturk_app):
    r = mturk_app.test_client().get("/mturk/", query_string=params(submit_to="https://evil.example"))
    assert r.status_code == 400 and participants(mturk_app) == 0


def test_missing_parameters_are_a_clear_error(mturk_app):
    r = mturk_app.test_client().get("/mturk/")
    assert r.status_code == 400 and "Mechanical Turk" in r.get_data(as_text=True)


def test_mturk_entry_is_closed_when_the_study_does_not_list_it(app):
    assert app.test_client().get("/mturk/", query_string=params()).status_code == 404


def test_worker_origins_are_configurable(make_app, make_study, sqlite_url):
    app = make_app(sqlite_url, make_study(toml=TOML), CAMSTUDY_MTURK_WORKER_ORIGINS="http://127.0.0.1:9999")
    client = app.test_client()
    token = start(client, submit_to="http://127.0.0.1:9999")
    assert "frame-ancestors http://127.0.0.1:9999" in client.get(f"/s/{token}/").headers["Content-Security-Policy"]
    assert client.get("/mturk/", query_string=params(submit_to=SANDBOX)).status_code == 400


def test_unknown_mturk_key_is_rejected_at_import(make_study, sqlite_url, tmp_path: Path):
    assert_crowd_sections_refused(make_study(toml="[mturk]\nreward = '1.00'\nrewrad = '2.00'\n"),
                                  r"study.toml: unknown key 'rewrad' in \[mturk\] \(did you mean 'reward'\?\); expected one of: .*reward")
    assert_crowd_sections_refused(make_study(toml="[mturk]\nreward = 1\n"),
                                  r"\[mturk\] reward must be an amount in US dollars")

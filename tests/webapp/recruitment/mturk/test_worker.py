"""The survey as an MTurk ExternalQuestion: preview creates nothing, the worker's
assignment resumes, a repeat worker is refused, the completion page posts to
externalSubmit, and the pages may be framed by the MTurk worker sites only."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.webapp.helpers import Walker, assert_crowd_sections_refused, import_into
from webapp.data.engine import db
from webapp.data.tables import Participant

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


def verification(app, worker: str) -> dict[str, str]:
    """assignmentId (claim) -> verification of each session claiming this WorkerId."""
    with app.app_context():
        return {p.claim: p.verification for p in db.session.scalars(select(Participant).filter_by(participant_id=worker))}


def verify(app, worker: str, assignment: str) -> None:
    """What `camstudy mturk review` does once MTurk lists the assignment (tested there with Stubber)."""
    with app.app_context():
        p = db.session.scalar(select(Participant).filter_by(participant_id=worker, claim=assignment))
        p.verification = "verified"
        db.session.commit()


def test_a_forged_assignment_never_returns_the_workers_token(mturk_app):
    """Attack: the real worker has opened the HIT (not consented yet); someone else opens
    the survey with the same workerId and an invented assignmentId."""
    victim = start(mturk_app.test_client(), assignment="REALASSIGN", worker="VICTIM")
    forged = start(mturk_app.test_client(), assignment="FAKE", worker="VICTIM")
    assert forged != victim
    assert verification(mturk_app, "VICTIM") == {"REALASSIGN": "unverified", "FAKE": "unverified"}


def test_a_forged_assignment_that_consents_first_does_not_lock_the_worker_out(mturk_app):
    """Attack: forged assignmentId for VICTIM, consented before the real worker arrives."""
    attacker = Walker(mturk_app.test_client())
    attacker.token = start(attacker.client, assignment="FAKE", worker="VICTIM")
    attacker.consent_and_instructions()
    real = Walker(mturk_app.test_client())
    real.token = start(real.client, assignment="REALASSIGN", worker="VICTIM")
    assert real.token != attacker.token
    real.consent_and_instructions()
    assert real.answer(0).status_code == 201
    assert start(real.client, assignment="REALASSIGN", worker="VICTIM") == real.token  # resumes


def test_a_second_assignment_by_a_verified_worker_is_refused(mturk_app):
    client = mturk_app.test_client()
    walker = Walker(client)
    walker.token = start(client, assignment="FIRST", worker="REPEAT1")
    walker.consent_and_instructions()
    verify(mturk_app, "REPEAT1", "FIRST")
    r = client.get("/mturk/", query_string=params(assignment="SECOND", worker="REPEAT1"))
    assert r.status_code == 200 and "already taken part" in r.get_data(as_text=True)
    assert participants(mturk_app) == 1
    assert start(client, assignment="FIRST", worker="REPEAT1") == walker.token  # their own assignment resumes


def test_a_hit_that_is_not_the_studys_is_refused_once_hits_are_recorded(mturk_app):
    from webapp.data.tables import MTurkHIT, Study

    with mturk_app.app_context():
        study = db.session.scalars(select(Study)).one()
        db.session.add(MTurkHIT(study_pk=study.id, sandbox=True, batch=1, batch_index=0, unique_request_token="t0",
                                hit_id="H1", max_assignments=9, reward="1.00"))
        db.session.commit()
    assert mturk_app.test_client().get("/mturk/", query_string=params(hit="OTHERHIT")).status_code == 404
    assert start(mturk_app.test_client(), hit="H1")
    assert participants(mturk_app) == 1


def test_the_same_assignment_with_another_hit_is_refused(mturk_app):
    start(mturk_app.test_client(), assignment="A7", worker="W7", hit="H1")
    r = mturk_app.test_client().get("/mturk/", query_string=params(assignment="A7", worker="W7", hit="H2"))
    assert r.status_code == 403


# --------------------------------------------------------------------------- checked with MTurk at start


@pytest.fixture
def mturk_stub():
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("mturk", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def verifying_app(make_app, make_study, sqlite_url, mturk_stub):
    return make_app(sqlite_url, make_study(toml=TOML), CAMSTUDY_MTURK_VERIFY="1",
                    CAMSTUDY_MTURK_CLIENT_FACTORY=lambda sandbox: mturk_stub.client)


def record(assignment: str, worker: str, hit: str = "H1") -> dict:
    return {"Assignment": {"AssignmentId": assignment, "WorkerId": worker, "HITId": hit,
                           "AssignmentStatus": "Submitted"}}


def test_mturk_confirms_the_assignment_at_start(verifying_app, mturk_stub):
    mturk_stub.add_response("get_assignment", record("REAL1", "W1"), {"AssignmentId": "REAL1"})
    start(verifying_app.test_client(), assignment="REAL1", worker="W1")
    assert verification(verifying_app, "W1") == {"REAL1": "verified"}


def test_an_assignment_mturk_gives_to_another_worker_is_refused_at_start(verifying_app, mturk_stub):
    mturk_stub.add_response("get_assignment", record("REAL1", "SOMEONEELSE"), {"AssignmentId": "REAL1"})
    r = verifying_app.test_client().get("/mturk/", query_string=params(assignment="REAL1", worker="VICTIM"))
    assert r.status_code == 403 and participants(verifying_app) == 0


def test_an_assignment_mturk_does_not_know_stays_unverified(verifying_app, mturk_stub):
    mturk_stub.add_client_error("get_assignment", "RequestError", "Assignment FAKE does not exist.", 400,
                                expected_params={"AssignmentId": "FAKE"})
    start(verifying_app.test_client(), assignment="FAKE", worker="VICTIM")
    assert verification(verifying_app, "VICTIM") == {"FAKE": "unverified"}


def test_after_a_verified_start_a_forged_assignment_is_refused_as_a_repeat(verifying_app, mturk_stub):
    mturk_stub.add_response("get_assignment", record("REAL1", "W1"), {"AssignmentId": "REAL1"})
    walker = Walker(verifying_app.test_client())
    walker.token = start(walker.client, assignment="REAL1", worker="W1")
    walker.consent_and_instructions()
    r = verifying_app.test_client().get("/mturk/", query_string=params(assignment="FAKE", worker="W1"))
    assert "already taken part" in r.get_data(as_text=True) and participants(verifying_app) == 1


def test_verified_workers_of_listed_earlier_studies_are_refused(make_app, make_study, sqlite_url):
    earlier = make_study(study_id="earlier-study", toml=TOML)
    app = make_app(sqlite_url, earlier)
    start(app.test_client(), worker="VETERAN")
    verify(app, "VETERAN", "A1")
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


def test_without_usable_aws_credentials_the_worker_goes_on_unverified(make_app, make_study, sqlite_url, monkeypatch):
    monkeypatch.setenv("CAMSTUDY_MTURK_PROFILE", "no-such-profile-anywhere")
    app = make_app(sqlite_url, make_study(toml=TOML), CAMSTUDY_MTURK_VERIFY="1")
    start(app.test_client(), assignment="A9", worker="W9")
    assert verification(app, "W9") == {"A9": "unverified"}


def test_a_reload_of_a_verified_assignment_does_not_ask_mturk_again(verifying_app, mturk_stub):
    mturk_stub.add_response("get_assignment", record("REAL1", "W1"), {"AssignmentId": "REAL1"})
    client = verifying_app.test_client()
    assert start(client, assignment="REAL1", worker="W1") == start(client, assignment="REAL1", worker="W1")

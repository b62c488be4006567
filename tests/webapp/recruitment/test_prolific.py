"""Prolific participants: PROLIFIC_PID, STUDY_ID and SESSION_ID on arrival; at the end
the browser is sent to the study's completion URL with its completion code."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from tests.webapp.helpers import Walker, assert_crowd_sections_refused
from webapp.data.engine import db
from webapp.data.tables import Participant

TOML = (
    "[recruitment]\nsources = ['prolific']\n"
    "[assignment]\npairs_per_participant = 2\nattention_checks_per_participant = 1\n"
    "[prolific]\ncompletion_code = 'C1ABCDEF'\nstudy_id = 'PSTUDY1'\n"
)
ARGS = {"PROLIFIC_PID": "5f1d2c3b4a5e6f7a8b9c0d1e", "STUDY_ID": "PSTUDY1", "SESSION_ID": "SESS1"}


@pytest.fixture
def prolific_app(make_app, make_study, sqlite_url):
    return make_app(sqlite_url, make_study(toml=TOML))


def test_participant_arrives_completes_and_is_sent_back_with_the_code(prolific_app):
    client = prolific_app.test_client()
    r = client.get("/prolific/", query_string=ARGS)
    assert r.status_code == 302
    walker = Walker(client)
    walker.token = r.headers["Location"].split("/s/")[1].split("/")[0]
    walker.consent_and_instructions()
    walker.finish()
    html = client.get(f"/s/{walker.token}/done").get_data(as_text=True)
    url = "https://app.prolific.com/submissions/complete?cc=C1ABCDEF"
    assert f'<meta http-equiv="refresh" content="2;url={url}">' in html
    assert re.search(rf'<a href="{re.escape(url)}" id="prolific-return">', html)
    with prolific_app.app_context():
        p = db.session.scalars(select(Participant)).one()
        assert (p.source, p.participant_id) == ("prolific", ARGS["PROLIFIC_PID"])
        assert p.source_data == {"STUDY_ID": "PSTUDY1", "SESSION_ID": "SESS1"} and p.completed_at is not None


def test_the_same_prolific_id_resumes(prolific_app):
    first = prolific_app.test_client().get("/prolific/", query_string=ARGS).headers["Location"]
    again = prolific_app.test_client().get("/prolific/", query_string=ARGS).headers["Location"]
    assert first == again


def test_missing_parameters_and_another_study_are_refused(prolific_app):
    client = prolific_app.test_client()
    assert client.get("/prolific/", query_string={"PROLIFIC_PID": "X1"}).status_code == 400
    assert client.get("/prolific/", query_string={**ARGS, "STUDY_ID": "OTHER"}).status_code == 404
    with prolific_app.app_context():
        assert db.session.scalars(select(Participant)).all() == []


def test_prolific_pages_are_not_framed(prolific_app):
    client = prolific_app.test_client()
    token = client.get("/prolific/", query_string=ARGS).headers["Location"].split("/s/")[1].split("/")[0]
    r = client.get(f"/s/{token}/")
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"] and r.headers["X-Frame-Options"] == "DENY"


def test_prolific_source_needs_a_completion_code(make_study):
    assert_crowd_sections_refused(make_study(toml="[recruitment]\nsources = ['prolific']\n"),
                                  r"\[prolific\] completion_code must be set")
    assert_crowd_sections_refused(make_study(toml="[prolific]\ncompletion_url = 'https://app.prolific.com/x'\n"),
                                  r"\[prolific\] completion_url must be an https:// URL containing \{code\}")


def token_of(client, **overrides) -> str:
    r = client.get("/prolific/", query_string={**ARGS, **overrides})
    assert r.status_code == 302, r.get_data(as_text=True)
    return r.headers["Location"].split("/s/")[1].split("/")[0]


def test_another_session_id_for_the_same_prolific_id_is_another_participant(prolific_app):
    """Attack: a typed PROLIFIC_PID with an invented SESSION_ID must not find that person's session."""
    real = token_of(prolific_app.test_client())
    forged = token_of(prolific_app.test_client(), SESSION_ID="FORGED1")
    assert forged != real
    with prolific_app.app_context():
        rows = {p.claim: p.verification for p in db.session.scalars(select(Participant))}
    assert rows == {"SESS1": "unverified", "FORGED1": "unverified"}


def test_prolific_source_needs_the_study_id(make_study):
    assert_crowd_sections_refused(
        make_study(toml="[recruitment]\nsources = ['prolific']\n[prolific]\ncompletion_code = 'C1'\n"),
        r"\[prolific\] study_id must be set")


class ProlificAPI:
    """Prolific's submissions endpoint on loopback: GET /api/v1/submissions/<id>/ with a token."""

    def __init__(self, submissions: dict[str, dict]) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        api = self
        self.submissions = submissions  # tests may add one later (Prolific was down at arrival)
        self.seen: list[tuple[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                api.seen.append((self.path, self.headers.get("Authorization", "")))
                m = re.fullmatch(r"/api/v1/submissions/([^/]+)/", self.path)
                body = api.submissions.get(m.group(1)) if m and self.headers.get("Authorization") == "Token T0KEN" else None
                data = json.dumps(body or {"error": {"title": "Not found"}}).encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def checked_app(make_app, make_study, sqlite_url):
    from tests.webapp.helpers import serving

    api = ProlificAPI({
        "SESS1": {"id": "SESS1", "participant": ARGS["PROLIFIC_PID"], "study_id": "PSTUDY1", "status": "ACTIVE"},
        "STOLEN": {"id": "STOLEN", "participant": "someoneelse0000000000000", "study_id": "PSTUDY1",
                   "status": "ACTIVE"},
    })
    with serving(api.server):
        yield make_app(sqlite_url, make_study(toml=TOML), CAMSTUDY_PROLIFIC_TOKEN="T0KEN",
                       CAMSTUDY_PROLIFIC_API=api.url), api


def test_prolific_confirms_the_submission_at_arrival(checked_app):
    app, api = checked_app
    token_of(app.test_client())
    assert api.seen == [("/api/v1/submissions/SESS1/", "Token T0KEN")]
    with app.app_context():
        p = db.session.scalars(select(Participant)).one()
        assert p.verification == "verified" and p.verified_at is not None


def test_a_submission_of_someone_else_is_refused_and_an_unknown_one_stays_unverified(checked_app):
    app, _ = checked_app
    assert app.test_client().get("/prolific/", query_string={**ARGS, "SESSION_ID": "STOLEN"}).status_code == 403
    token_of(app.test_client(), SESSION_ID="NOSUCHSESSION")
    with app.app_context():
        assert {p.claim: p.verification for p in db.session.scalars(select(Participant))} == {
            "NOSUCHSESSION": "unverified"}


def test_a_participant_prolific_could_not_confirm_at_arrival_is_checked_again_at_completion(checked_app):
    app, api = checked_app
    client = app.test_client()
    walker = Walker(client)
    walker.token = token_of(client, SESSION_ID="LATE1")  # Prolific has no record yet: unverified
    api.submissions["LATE1"] = {"id": "LATE1", "participant": ARGS["PROLIFIC_PID"], "study_id": "PSTUDY1"}
    walker.consent_and_instructions()
    walker.finish()
    with app.app_context():
        p = db.session.scalars(select(Participant)).one()
        assert p.verification == "verified" and p.completed_at is not None
    assert [path for path, _ in api.seen] == ["/api/v1/submissions/LATE1/"] * 2

"""A real browser (headless Chromium) on a page that plays the MTurk worker site: it
frames the survey cross-site (http://localhost:B framing http://127.0.0.1:A) with the
four MTurk parameters; the worker completes the survey in the frame and the worker site
receives the externalSubmit POST with the right assignmentId. Preview creates no
participant; a second assignment by a verified worker is refused; a forged assignment for
a worker's id neither locks the real worker out nor reveals their session."""
from __future__ import annotations

from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import func, select

from tests.webapp.helpers import pass_consent_and_instructions, record_problems, serving
from webapp.data.engine import db
from webapp.data.tables import Participant, Trial

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUESTIONS = ["Which explanation highlights a larger area?", "Which explanation is more focused?"]
TOML = (
    "[recruitment]\nsources = ['mturk']\n[survey]\npractice_trials = 0\n"
    "[assignment]\npairs_per_participant = 2\nattention_checks_per_participant = 1\n"
)


class WorkerSite:
    """http://localhost:<port>: ``/hit?src=URL`` frames the survey; ``/mturk/externalSubmit`` records POSTs."""

    def __init__(self) -> None:
        self.submissions: list[dict[str, list[str]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, body: str) -> None:
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                src = parse_qs(urlsplit(self.path).query).get("src", [""])[0]
                self._send(f'<!doctype html><title>HIT</title><h1>Worker site</h1>'
                           f'<iframe id="hit" src="{escape(src)}" width="1000" height="800"></iframe>')

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                site.submissions.append({"path": [self.path], **parse_qs(self.rfile.read(length).decode())})
                self._send("<!doctype html><title>Submitted</title><p id='ok'>HIT submitted</p>")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://localhost:{self.server.server_port}"


@pytest.fixture
def worker_site():
    site = WorkerSite()
    with serving(site.server):
        yield site


@pytest.fixture
def survey(make_app, make_study, sqlite_url, worker_site, serve_live):
    app = make_app(sqlite_url, make_study(toml=TOML, size=64), SESSION_COOKIE_SECURE=False,
                   CAMSTUDY_MTURK_WORKER_ORIGINS=worker_site.origin)
    return app, serve_live(app)


def open_hit(page, site: WorkerSite, base: str, **params: str):
    src = f"{base}/mturk/?" + urlencode({"turkSubmitTo": site.origin, **params})
    page.goto(f"{site.origin}/hit?" + urlencode({"src": src}))
    return page.frame_locator("#hit"), page.frame(url=lambda u: u.startswith(base))


def participants(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Participant.id)))


def test_worker_completes_the_hit_inside_the_worker_site_frame(browser, survey, worker_site):
    app, base = survey
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    problems = record_problems(page)

    # preview: instructions, "Accept the HIT to begin", nothing created
    frame, _ = open_hit(page, worker_site, base, assignmentId="ASSIGNMENT_ID_NOT_AVAILABLE", hitId="HITB1")
    frame.get_by_text("Accept the HIT to begin").wait_for()
    assert participants(app) == 0

    # accepted: the whole survey inside the frame
    frame, hit_frame = open_hit(page, worker_site, base, assignmentId="ASSIGNB1", hitId="HITB1", workerId="WORKERB1")
    pass_consent_and_instructions(frame)
    for _ in range(10):
        frame.get_by_role("radiogroup", name=QUESTIONS[0]).wait_for()
        before = hit_frame.url
        for question, side in zip(QUESTIONS, ("Image A", "Image B")):
            frame.get_by_role("radiogroup", name=question).get_by_role("radio", name=side).check()
        button = frame.get_by_role("button", name="Next").or_(frame.get_by_role("button", name="Finish"))
        last = button.inner_text().strip() == "Finish"
        button.click()
        hit_frame.wait_for_url(lambda u: u != before, timeout=10_000)
        if last:
            break
    frame.get_by_label("Somewhat").check()
    frame.get_by_role("button", name="Finish").click()
    frame.get_by_text("Your completion code").wait_for()
    code = frame.locator("#completion-code").inner_text()
    frame.get_by_role("button", name="Submit HIT").click()
    frame.get_by_text("HIT submitted").wait_for()

    assert len(worker_site.submissions) == 1
    submitted = worker_site.submissions[0]
    assert submitted["path"] == ["/mturk/externalSubmit"] and submitted["assignmentId"] == ["ASSIGNB1"]
    assert submitted["completion_code"] == [code]
    with app.app_context():
        p = db.session.scalars(select(Participant)).one()
        assert (p.participant_id, p.completed_at is not None) == ("WORKERB1", True)
        assert all(t.answered_at for t in db.session.scalars(select(Trial).filter_by(participant_pk=p.id)))

    # once MTurk confirmed the first assignment (`camstudy mturk review`, or at start), the same
    # worker on another assignment of this study is refused
    with app.app_context():
        p.verification = "verified"
        db.session.merge(p)
        db.session.commit()
    frame, _ = open_hit(page, worker_site, base, assignmentId="ASSIGNB2", hitId="HITB2", workerId="WORKERB1")
    frame.get_by_text("You have already taken part in this study").wait_for()
    assert participants(app) == 1
    context.close()
    assert not problems, problems  # no script errors, no CSP or framing violations


def test_a_forged_assignment_neither_locks_out_nor_reveals_the_real_worker(browser, survey, worker_site):
    """Attack in real browsers: someone opens the HIT URL with the real worker's workerId and
    an invented assignmentId and consents; then the real worker accepts the HIT."""
    app, base = survey
    forger = browser.new_context(viewport={"width": 1100, "height": 900})
    frame, _ = open_hit(forger.new_page(), worker_site, base, assignmentId="FORGEDB", hitId="HITB1",
                        workerId="VICTIMB")
    pass_consent_and_instructions(frame)
    frame.get_by_role("radiogroup", name=QUESTIONS[0]).wait_for()

    worker = browser.new_context(viewport={"width": 1100, "height": 900})
    page = worker.new_page()
    problems = record_problems(page)
    frame, hit_frame = open_hit(page, worker_site, base, assignmentId="REALB", hitId="HITB1", workerId="VICTIMB")
    pass_consent_and_instructions(frame)  # not "You have already taken part"
    frame.get_by_role("radiogroup", name=QUESTIONS[0]).wait_for()
    with app.app_context():
        rows = {p.claim: (p.token, p.consented_at is not None, p.verification)
                for p in db.session.scalars(select(Participant).filter_by(participant_id="VICTIMB"))}
    assert set(rows) == {"FORGEDB", "REALB"} and rows["FORGEDB"][0] != rows["REALB"][0]
    assert rows["REALB"][0] in hit_frame.url and rows["FORGEDB"][0] not in hit_frame.url
    assert all(consented and verification == "unverified" for _, consented, verification in rows.values())
    forger.close()
    worker.close()
    assert not problems, problems

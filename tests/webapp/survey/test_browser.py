"""A real browser (headless Chromium via Playwright) takes a whole lab session over real
HTTP on 127.0.0.1, with a reload in the middle and a double click on "Next"; the
database then holds exactly one row per question per trial."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests import ROOT
from tests.webapp.helpers import begin_lab_session_in_browser, record_problems
from webapp.data.engine import db
from webapp.data.tables import Participant, Response, Trial

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUESTIONS = ["Which explanation highlights a larger area?", "Which explanation is more focused?"]
DOC_IMAGES = ROOT / "docs" / "img"


@pytest.fixture
def live_app(make_app, make_study, sqlite_url, serve_live):
    """(app, base URL): the app on a real HTTP server in a thread, on a free port of 127.0.0.1."""
    study = make_study(n_pairs=6, n_attention=1, size=160, toml=(
        '[survey]\ntitle = "Comparing explanation images"\npractice_trials = 1\n'
        "[assignment]\npairs_per_participant = 4\nattention_checks_per_participant = 1\n"))
    app = make_app(sqlite_url, study, SESSION_COOKIE_SECURE=False, CAMSTUDY_ADMIN_TOKEN="admin-token-1")
    return app, serve_live(app)


def answer_and_next(page, sides=("Image A", "Image B"), double=False) -> None:
    before = page.url
    for question, side in zip(QUESTIONS, sides):
        page.get_by_role("radiogroup", name=question).get_by_role("radio", name=side).check()
    button = page.get_by_role("button", name="Next").or_(page.get_by_role("button", name="Finish"))
    if double:
        button.dblclick()
    else:
        button.click()
    page.wait_for_url(lambda url: url != before, timeout=10_000)


def save_for_docs(src: Path, name: str) -> None:
    """Refresh the docs' screenshots when asked (CAMSTUDY_UPDATE_DOC_IMAGES=1) or missing."""
    target = DOC_IMAGES / name
    if os.environ.get("CAMSTUDY_UPDATE_DOC_IMAGES") == "1" or not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)


def test_lab_session_in_a_real_browser(browser, live_app, artifact_dir):
    app, base = live_app
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    problems = record_problems(page)

    begin_lab_session_in_browser(page, base, "BROWSER1")

    # practice trial, then the first real trial
    page.get_by_text("Practice").wait_for()
    answer_and_next(page)
    next_button = page.get_by_role("button", name="Next")
    assert next_button.is_disabled()  # nothing answered yet
    page.get_by_role("radiogroup", name=QUESTIONS[0]).get_by_role("radio", name="Image A").check()
    assert next_button.is_disabled()  # one question still open
    shot = artifact_dir / "trial.png"
    page.screenshot(path=str(shot), full_page=True)
    save_for_docs(shot, "trial.png")
    # the next trial is shown in place (no page load): new images, progress moved on
    first_images = page.locator("img.stimulus").evaluate_all("imgs => imgs.map(i => i.src)")
    page.evaluate("window.sameDocument = true")
    answer_and_next(page)
    assert page.evaluate("window.sameDocument === true")
    page.wait_for_function("!document.querySelector('input[type=radio]').disabled")
    assert page.locator("img.stimulus").evaluate_all("imgs => imgs.map(i => i.src)") != first_images
    assert page.get_by_text("Progress: 1 of 5").is_visible()
    assert not page.locator("input[type=radio]:checked").count()

    # a reload in the middle of a trial: same trial again, nothing lost, nothing doubled
    url = page.url
    page.get_by_role("radiogroup", name=QUESTIONS[0]).get_by_role("radio", name="Image B").check()
    page.reload()
    assert page.url == url
    answer_and_next(page, double=True)  # a double click on "Next"

    # keyboard: 1 = Image A for the next open question, Enter = Next
    page.locator("img.stimulus").first.wait_for()
    page.wait_for_function("!document.querySelector('input[type=radio]').disabled")
    before = page.url
    page.keyboard.press("1")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda u: u != before, timeout=10_000)

    # phone-sized screen for the remaining trials
    page.set_viewport_size({"width": 390, "height": 844})
    phone = artifact_dir / "trial-phone.png"
    page.screenshot(path=str(phone), full_page=True)
    while "/trial/" in page.url:
        answer_and_next(page, sides=("Image B", "About the same"))
    page.get_by_label("Somewhat").check()
    page.get_by_role("button", name="Finish").click()
    page.get_by_text("Your completion code").wait_for()
    code = page.locator("#completion-code").inner_text()

    # the researcher's view
    page.set_viewport_size({"width": 1100, "height": 900})
    page.goto(f"{base}/admin/?token=admin-token-1")
    page.get_by_role("heading", name="Study test-study").wait_for()
    admin_shot = artifact_dir / "admin.png"
    page.screenshot(path=str(admin_shot), full_page=True)
    save_for_docs(admin_shot, "admin.png")
    context.close()

    assert not problems, problems  # no script errors, no CSP violations
    with app.app_context():
        s = db.session
        p = s.scalars(select(Participant)).one()
        assert p.completed_at is not None and p.completion_code == code
        trials = s.scalars(select(Trial).filter_by(participant_pk=p.id)).all()
        assert len(trials) == 6 and all(t.answered_at is not None for t in trials)
        per_question = s.execute(
            select(Response.trial_pk, Response.question_id, func.count()).group_by(Response.trial_pk, Response.question_id)
        ).all()
        assert len(per_question) == len(trials) * 2
        assert all(n == 1 for _, _, n in per_question)
        # response times were measured in the browser from the images' load
        assert all(r.rt_ms > 0 for r in s.scalars(select(Response)))

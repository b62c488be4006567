"""A participant's path: lab start, consent, instructions, practice, trials, questionnaire,
completion; resume after reloads; pages that redirect to the right step."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from webapp.data.engine import db
from webapp.data.tables import Participant, Response, Trial


def test_whole_session_stores_one_row_per_question_per_trial(app, walker):
    walker.begin_lab_session("P001")
    walker.finish()
    with app.app_context():
        s = db.session
        p = s.scalars(select(Participant)).one()
        trials = s.scalars(select(Trial).filter_by(participant_pk=p.id)).all()
        assert p.completed_at is not None and p.questionnaire["familiarity"] == "some"
        assert [t.trial_index for t in trials] == [-1, 0, 1, 2, 3, 4]  # 1 practice, 4 pairs + 1 check
        assert s.scalar(select(func.count(Response.id))) == 2 * len(trials)
    done = walker.get(f"/s/{walker.token}/done").get_data(as_text=True)
    assert p.completion_code in done


def test_consent_needs_the_box_ticked(walker):
    walker.start_lab("P002")
    r = walker.form(f"/s/{walker.token}/consent", {})
    assert r.status_code == 200 and "Please tick the box" in r.get_data(as_text=True)


def test_consent_page_has_i_agree_checkbox_and_start_button(walker):
    walker.start_lab("P003")
    html = walker.get(f"/s/{walker.token}/consent").get_data(as_text=True)
    assert "I agree" in html and 'value="Start"' in html


def test_reload_and_reopen_resume_at_first_unanswered_trial(app, walker):
    walker.begin_lab_session("P004")
    assert walker.answer(-1).status_code == 201
    assert walker.answer(0).status_code == 201
    # the back button or an old bookmark for an answered trial lands on the first unanswered one
    r = walker.get(f"/s/{walker.token}/trial/0")
    assert r.status_code == 302 and r.headers["Location"].endswith("/trial/1")
    # skipping ahead is not possible either
    r = walker.get(f"/s/{walker.token}/trial/3")
    assert r.headers["Location"].endswith("/trial/1")
    # the signed cookie brings a returning browser back to its place
    r = walker.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/trial/1")
    # and so does the link alone, in a fresh browser
    fresh = app.test_client()
    r = fresh.get(f"/s/{walker.token}/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/trial/1")


def test_typing_the_same_lab_id_again_resumes_that_participant(walker):
    first = walker.start_lab("P005")
    assert walker.start_lab("P005") == first


def test_unknown_token_is_a_clear_404(client):
    r = client.get("/s/not-a-real-token-at-all/consent")
    assert r.status_code == 404 and "not valid" in r.get_data(as_text=True)


def test_trial_page_shows_questions_as_named_radio_groups(walker):
    walker.begin_lab_session("P006")
    html = walker.get(f"/s/{walker.token}/trial/-1").get_data(as_text=True)
    assert 'role="radiogroup"' in html and "Which explanation highlights a larger area?" in html
    assert "Which explanation is more focused?" in html
    for label in ("Image A", "Image B", "About the same"):
        assert label in html
    assert ">Next<" in html and "Practice" in html


def test_last_trial_button_says_finish(walker):
    walker.begin_lab_session("P007")
    for i in range(-1, 4):
        assert walker.answer(i).status_code == 201
    html = walker.get(f"/s/{walker.token}/trial/4").get_data(as_text=True)
    assert ">Finish<" in html


def test_questionnaire_answers_are_optional(walker):
    walker.begin_lab_session("P008")
    for i in range(-1, 5):
        assert walker.answer(i).status_code == 201
    r = walker.form(f"/s/{walker.token}/questionnaire", {})
    assert r.status_code == 302 and r.headers["Location"].endswith("/done")


def test_instructions_show_illustrations_and_the_questions_but_no_study_image(walker):
    walker.start_lab("P009")
    walker.form(f"/s/{walker.token}/consent", {"agree": "y"})
    html = walker.get(f"/s/{walker.token}/instructions").get_data(as_text=True)
    assert "Image A (left)" in html and "not images from the study" in html
    assert "Which explanation is more focused?" in html and "/examples/" in html
    assert "/stimuli/" not in html  # the example screen is drawn, not a study pair
    for url in set(re.findall(r'src="(/examples/[^"]+)"', html)):
        r = walker.get(url)
        assert r.status_code == 200 and r.mimetype == "image/png"


def test_study_without_questionnaire_goes_straight_to_done(make_app, make_study, sqlite_url):
    from tests.webapp.helpers import Walker

    app = make_app(sqlite_url, make_study(toml="[survey]\nquestionnaire = false\npractice_trials = 0\n"
                                                "[assignment]\npairs_per_participant = 2\n"))
    w = Walker(app.test_client()).begin_lab_session("NQ1")
    w.answer(0)
    w.answer(1)
    r = w.answer(2)
    assert r.status_code == 201 and r.get_json()["next_url"].endswith("/done")

"""What a participant meets, in headless Chromium over real HTTP on 127.0.0.1, on a desktop
and on a phone (touch) viewport: instructions that teach (a colour scale in the study's
colormap, what "larger" and "more focused" mean, practice with feedback), consent with a
decline button that keeps nothing but "declined", choices that survive a reload, no
keyboard hints on touch screens, a layout that agrees with the words, a styled
questionnaire, and accessibility (axe-core's WCAG 2 A/AA rules: labels, names, contrast; and a visible focus ring).

Screenshots go to test-artifacts/, and to docs/img when missing or when
CAMSTUDY_UPDATE_DOC_IMAGES=1."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from axe_playwright_python.sync_playwright import Axe
from sqlalchemy import func, select

from tests import ROOT
from tests.webapp.helpers import finish_practice, record_problems
from webapp.data.engine import db
from webapp.data.tables import Participant, Response, Trial

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOC_IMAGES = ROOT / "docs" / "img"
DESKTOP = {"viewport": {"width": 1100, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "has_touch": True, "is_mobile": True}
LARGER, FOCUSED = "Which explanation highlights a larger area?", "Which explanation is more focused?"
CONTACT = "Questions? Write to Dr. Example, study@example.org."
TOML = (f'[survey]\npractice_trials = 0\ncontact_text = "{CONTACT}"\n'
        "[assignment]\npairs_per_participant = 2\nattention_checks_per_participant = 0\n")



def save_shot(page, artifact_dir: Path, name: str, full_page: bool = True) -> None:
    """(Phones: the viewport only. A full-page capture resizes the emulated screen, which
    drops the touch media features for the shot and would show the keyboard hints.)"""
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    shot = artifact_dir / name
    page.screenshot(path=str(shot), full_page=full_page)
    target = DOC_IMAGES / name
    if os.environ.get("CAMSTUDY_UPDATE_DOC_IMAGES") == "1" or not target.exists():
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


def assert_accessible(page) -> None:
    """axe-core's WCAG 2 A and AA rules (labels, contrast, names, structure) find nothing."""
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}})
    assert results.violations_count == 0, results.generate_report()


@pytest.fixture
def live(make_app, make_study, sqlite_url, serve_live):
    """(app, base URL) of a study rendered with the viridis colormap at alpha 0.6."""
    study = make_study(n_pairs=4, n_attention=0, size=64, toml=TOML)
    manifest = json.loads((study / "manifest.json").read_text())
    manifest["render"].update(colormap="viridis", alpha=0.6)
    (study / "manifest.json").write_text(json.dumps(manifest))
    app = make_app(sqlite_url, study, SESSION_COOKIE_SECURE=False, CAMSTUDY_ADMIN_TOKEN="tok-admin-1")
    return app, serve_live(app)


def open_page(browser, base: str, device: dict, participant: str):
    """A new page at the consent page of a new lab participant."""
    page = browser.new_context(**device).new_page()
    problems = record_problems(page)
    page.goto(f"{base}/lab")
    page.get_by_label("Participant id").fill(participant)
    page.get_by_role("button", name="Start session").click()
    page.get_by_role("link", name="Continue").click()
    page.get_by_role("heading", name="Consent").wait_for()
    return page, problems


def to_instructions(page) -> None:
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Start").click()
    page.get_by_role("heading", name="Instructions").wait_for()
    page.wait_for_load_state()  # the practice's script has run


def to_first_trial(page) -> None:
    to_instructions(page)
    finish_practice(page)
    page.get_by_role("button", name="Continue").click()
    wait_for_answers(page)


def wait_for_answers(page) -> None:
    """Until the trial's images are in and its answers enabled (a function, not an
    expression: the survey's CSP forbids the eval that polling an expression needs)."""
    page.wait_for_function("() => { const r = document.querySelector('input[type=radio]'); return r && !r.disabled; }")


def participant_row(app, participant_id: str):
    with app.app_context():
        p = db.session.scalar(select(Participant).filter_by(participant_id=participant_id))
        trials = db.session.scalar(select(func.count(Trial.id)).where(Trial.participant_pk == p.id))
        answers = db.session.scalar(select(func.count(Response.id)).where(Response.participant_pk == p.id))
        return p, trials, answers


def test_instructions_show_the_colour_scale_of_the_study_and_the_definitions(browser, live, artifact_dir):
    from matplotlib import colormaps

    app, base = live
    page, problems = open_page(browser, base, DESKTOP, "TEACH1")
    to_instructions(page)
    scale = page.get_by_role("img", name="Colour scale")
    scale.wait_for()
    # the scale's two ends are the study's colormap (viridis) blended as the study's overlays are
    ends = scale.evaluate("""img => { const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const x = c.getContext('2d'); x.drawImage(img, 0, 0);
        return [0, img.naturalWidth - 1].map(i => Array.from(x.getImageData(i, 5, 1, 1).data.slice(0, 3))); }""")
    expected = [np.rint(0.4 * 228 + 0.6 * np.array(colormaps["viridis"](v)[:3]) * 255) for v in (0.0, 1.0)]
    assert np.abs(np.array(ends) - np.array(expected)).max() <= 1, (ends, expected)
    for question in (LARGER, FOCUSED):
        definition = page.locator(".definition").filter(has=page.get_by_role("heading", name=question))
        assert definition.is_visible()
        assert len(definition.locator("p").inner_text()) > 40  # says what the question means
        assert definition.get_by_role("img", name="Illustration").count() == 2
    assert page.get_by_text("not images from the study").is_visible()
    assert not page.locator("img[src*='/stimuli/']").count()  # no study pair before the trials
    assert_accessible(page)
    save_shot(page, artifact_dir, "instructions.png")
    assert problems == []


def test_practice_gives_feedback_and_continue_waits_for_it(browser, live, artifact_dir):
    app, base = live
    page, problems = open_page(browser, base, DESKTOP, "PRACTICE1")
    to_instructions(page)
    proceed = page.get_by_role("button", name="Continue")
    assert proceed.is_disabled()
    first = page.locator("form.practice-round").first
    larger = first.get_by_role("radiogroup", name=LARGER)
    focused = first.get_by_role("radiogroup", name=FOCUSED)
    right = larger.get_attribute("data-answer")
    wrong = {"A": "B", "B": "A"}[right]
    larger.get_by_role("radio", name=f"Image {wrong}").check()
    focused.get_by_role("radio", name=f"Image {focused.get_attribute('data-answer')}").check()
    first.get_by_role("button", name="Check my answers").click()
    assert larger.locator(".feedback").inner_text().startswith(f"\u2717 Not quite: the answer here is Image {right}")
    assert "strongly coloured area" in larger.locator(".feedback").inner_text()  # the definition, again
    assert focused.locator(".feedback").inner_text().startswith("\u2713 Right")
    assert proceed.is_disabled()  # one more example to go
    assert_accessible(page)  # the feedback's colours too
    save_shot(page, artifact_dir, "practice.png")
    first.get_by_role("button", name="Next example").click()
    second = page.locator("form.practice-round").nth(1)
    for group in second.locator("fieldset").all():
        group.get_by_role("radio", name="About the same").check()
    second.get_by_role("button", name="Check my answers").click()
    assert "there is a clear difference" in second.locator(".feedback").first.inner_text()
    assert proceed.is_enabled()
    proceed.click()
    page.wait_for_url("**/trial/**")
    assert problems == []


def test_a_reload_keeps_a_half_answered_trials_choices_until_the_answer_is_sent(browser, live):
    app, base = live
    page, problems = open_page(browser, base, DESKTOP, "RELOAD1")
    to_first_trial(page)
    url = page.url
    page.get_by_role("radiogroup", name=LARGER).get_by_role("radio", name="Image B").check()
    page.reload()
    wait_for_answers(page)
    assert page.url == url
    assert page.get_by_role("radiogroup", name=LARGER).get_by_role("radio", name="Image B").is_checked()
    assert not page.get_by_role("radiogroup", name=FOCUSED).locator("input:checked").count()
    page.get_by_role("radiogroup", name=FOCUSED).get_by_role("radio", name="Image A").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_text("Progress: 1 of 2").wait_for()
    assert not page.locator("input[type=radio]:checked").count()  # the next trial starts empty
    assert page.evaluate("Object.keys(sessionStorage).filter(k => k.startsWith('camstudy:choices:'))") == []
    with app.app_context():
        sides = dict(db.session.execute(select(Response.question_id, Response.response_side)).all())
    assert sides == {"larger": "B", "focused": "A"}
    assert problems == []


def test_decline_records_a_declined_participant_and_keeps_no_answers(browser, live, artifact_dir):
    app, base = live
    page, problems = open_page(browser, base, DESKTOP, "DECLINE1")
    assert page.get_by_text(CONTACT).is_visible()
    assert_accessible(page)
    save_shot(page, artifact_dir, "consent.png")
    page.get_by_role("button", name="I do not want to take part").click()
    page.get_by_role("heading", name="You declined").wait_for()
    assert page.get_by_text(CONTACT).is_visible()
    assert_accessible(page)
    page.goto(f"{base}/")  # coming back: still declined, no way into the trials
    page.get_by_role("heading", name="You declined").wait_for()
    participant, trials, answers = participant_row(app, "DECLINE1")
    assert participant.declined_at is not None and participant.consented_at is None
    assert participant.allocated_at is None and participant.questionnaire is None
    assert (trials, answers) == (0, 0)
    counts = app.test_client().get("/admin/api/counts", headers={"Authorization": "Bearer tok-admin-1"}).get_json()
    assert counts["declined"] == 1 and counts["in_progress"] == 0 and counts["answers"] == 0
    assert problems == []


def test_touch_phone_shows_no_keyboard_hints_and_the_words_match_the_layout(browser, live, artifact_dir):
    app, base = live
    page, problems = open_page(browser, base, PHONE, "PHONE1")
    to_instructions(page)
    assert page.locator(".keys").count() and not page.locator(".keys").first.is_visible()
    assert "Image A is always on the left and\n  Image B on the right" in page.content()
    layout = page.locator(".example .images figure:not(.original)")
    a, b = layout.nth(0).bounding_box(), layout.nth(1).bounding_box()
    assert a["x"] + a["width"] <= b["x"] and abs(a["y"] - b["y"]) < 2  # B really is right of A
    page.locator(".example").scroll_into_view_if_needed()
    save_shot(page, artifact_dir, "instructions-phone.png", full_page=False)
    finish_practice(page)
    page.get_by_role("button", name="Continue").click()
    wait_for_answers(page)
    assert page.locator("p.keys").evaluate("el => getComputedStyle(el).display") == "none"
    a, b = page.locator("img[data-image=a]").bounding_box(), page.locator("img[data-image=b]").bounding_box()
    assert a["x"] + a["width"] <= b["x"] and abs(a["y"] - b["y"]) < 2
    assert_accessible(page)
    save_shot(page, artifact_dir, "trial-phone.png", full_page=False)
    assert problems == []


def test_desktop_shows_keyboard_hints_and_focus_is_visible(browser, live):
    app, base = live
    page, problems = open_page(browser, base, DESKTOP, "KEYS1")
    page.keyboard.press("Tab")
    for _ in range(10):  # tab to the checkbox: its focus ring is drawn
        if page.evaluate("document.activeElement.type") == "checkbox":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    to_first_trial(page)
    assert page.locator("p.keys").is_visible()
    assert problems == []


def test_questionnaire_is_styled_with_separate_targets_and_accessible(browser, live, artifact_dir):
    app, base = live
    page, problems = open_page(browser, base, DESKTOP, "QUEST1")
    to_first_trial(page)
    for _ in range(2):
        before = page.url
        page.get_by_role("radiogroup", name=LARGER).get_by_role("radio", name="Image A").check()
        page.get_by_role("radiogroup", name=FOCUSED).get_by_role("radio", name="Image B").check()
        page.get_by_role("button", name="Next").or_(page.get_by_role("button", name="Finish")).click()
        page.wait_for_function(f"() => location.href !== {before!r}")
    page.get_by_role("heading", name="Almost done").wait_for()
    boxes = [label.bounding_box() for label in page.locator("label.choice").all()]
    assert len(boxes) == 3
    for upper, lower in zip(boxes, boxes[1:]):  # one option per row, none running into the next
        assert upper["y"] + upper["height"] <= lower["y"]
    assert all(box["height"] >= 44 for box in boxes)  # touch-sized targets
    assert_accessible(page)
    save_shot(page, artifact_dir, "questionnaire.png")
    page.get_by_label("Somewhat").check()
    page.get_by_role("button", name="Finish").click()
    page.get_by_role("heading", name="Thank you!").wait_for()
    assert page.get_by_text(CONTACT).is_visible()
    assert problems == []

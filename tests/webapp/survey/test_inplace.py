"""Trials shown in place (survey.js with the answer reply's next_trial) in a real browser:
a change of layout mid-session (a re-import that edits study.toml) makes the page load
the next trial instead of showing it with stale options."""
from __future__ import annotations

import pytest

from tests.webapp.helpers import begin_lab_session_in_browser, import_into, record_problems

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUESTIONS = ["Which explanation highlights a larger area?", "Which explanation is more focused?"]


def test_a_settings_change_mid_session_reaches_the_next_trial(browser, make_app, make_study, sqlite_url, serve_live):
    study = make_study(n_pairs=6, n_attention=0, size=64, toml=(
        "[survey]\npractice_trials = 0\nallow_same = true\n[assignment]\npairs_per_participant = 4\n"
        "attention_checks_per_participant = 0\n"))
    base = serve_live(make_app(sqlite_url, study, SESSION_COOKIE_SECURE=False))
    context = browser.new_context()
    page = context.new_page()
    problems = record_problems(page)
    try:
        begin_lab_session_in_browser(page, base, "INPLACE1")
        same = page.get_by_role("radio", name="About the same")

        def answer() -> None:
            before = page.url
            for question in QUESTIONS:
                page.get_by_role("radiogroup", name=question).get_by_role("radio", name="Image A").check()
            page.get_by_role("button", name="Next").click()
            page.wait_for_url(lambda u: u != before, timeout=10_000)
            page.wait_for_function("!document.querySelector('input[type=radio]').disabled")

        page.evaluate("window.samePage = true")
        answer()  # trial 0 -> 1, shown in place
        assert page.evaluate("window.samePage === true") and same.count() == 2
        # the researcher turns "About the same" off and re-imports
        (study / "study.toml").write_text(
            "[survey]\npractice_trials = 0\nallow_same = false\n[assignment]\npairs_per_participant = 4\n"
            "attention_checks_per_participant = 0\n")
        import_into(sqlite_url, study)
        answer()  # trial 1 -> 2: the options differ, so a page load, without "About the same"
        assert page.evaluate("window.samePage === undefined")
        assert same.count() == 0 and "/trial/2" in page.url
        assert not problems, problems
    finally:
        context.close()

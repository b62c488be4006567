"""The answer API: exactly one row per question per trial, whatever the client does."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests.webapp.helpers import Walker
from webapp.data.engine import db
from webapp.data.tables import Response, Trial


def n_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Response.id)))


@pytest.fixture
def started(walker):
    walker.begin_lab_session("API1")
    return walker


def test_retry_with_same_key_is_acknowledged_without_a_second_row(app, started):
    first = started.answer(-1, key="key-aaaa-1111")
    again = started.answer(-1, key="key-aaaa-1111")
    assert first.status_code == 201 and first.get_json()["status"] == "saved"
    assert again.status_code == 200 and again.get_json()["status"] == "already_saved"
    assert again.get_json()["next_url"] == first.get_json()["next_url"]
    assert n_rows(app) == 2


def test_double_click_from_a_reloaded_page_stores_once(app, started):
    assert started.answer(-1, key="first-page-load").status_code == 201
    assert started.answer(-1, key="second-page-load").status_code == 200
    assert n_rows(app) == 2


def test_changing_an_answered_trial_is_refused(app, started):
    started.answer(-1, {"larger": "A", "focused": "A"})
    r = started.answer(-1, {"larger": "B", "focused": "A"})
    assert r.status_code == 409 and "already answered" in r.get_json()["error"]
    assert n_rows(app) == 2


def test_answers_out_of_order_are_refused(app, started):
    r = started.answer(2)
    assert r.status_code == 409 and "comes first" in r.get_json()["error"]
    assert n_rows(app) == 0


def test_someone_elses_trial_cannot_be_answered_with_my_cookie(app, started):


    other = Walker(app.test_client()).begin_lab_session("API2")
    # my browser (my cookie) posting to the other participant's trial with a forged token
    started.token = other.token[:-1] + ("A" if other.token[-1] != "A" else "B")
    assert started.answer(-1).status_code == 404
    assert n_rows(app) == 0


def test_unknown_trial_and_unknown_token_are_404(app, started):
    assert started.answer(99).status_code == 404
    started.token = "x" * 32
    r = started.answer(0)
    assert r.status_code == 404 and "not valid" in r.get_json()["error"]
    assert n_rows(app) == 0


@pytest.mark.parametrize(
    "body, message",
    [
        ({"answers": []}, "idempotency_key"),
        ({"idempotency_key": "short", "answers": []}, "idempotency_key"),
        ({"idempotency_key": "k" * 12, "answers": "A"}, "answers must be a list"),
        ({"idempotency_key": "k" * 12, "answers": [{"question_id": "larger", "side": "A", "rt_ms": 5}]}, "missing: focused"),
        ({"idempotency_key": "k" * 12, "answers": [{"question_id": "larger", "side": "C", "rt_ms": 5},
                                                   {"question_id": "focused", "side": "A", "rt_ms": 5}]}, "side must be"),
        ({"idempotency_key": "k" * 12, "answers": [{"question_id": "nope", "side": "A", "rt_ms": 5},
                                                   {"question_id": "focused", "side": "A", "rt_ms": 5}]}, "question_id"),
        ({"idempotency_key": "k" * 12, "answers": [{"question_id": "larger", "side": "A", "rt_ms": -1},
                                                   {"question_id": "focused", "side": "A", "rt_ms": 5}]}, "rt_ms"),
        ({"idempotency_key": "k" * 12, "answers": [{"question_id": "larger", "side": "A", "rt_ms": "9"},
                                                   {"question_id": "focused", "side": "A", "rt_ms": 5}]}, "rt_ms"),
        ({"idempotency_key": "k" * 12, "answers": [{"question_id": "larger", "side": "A", "rt_ms": 1},
                                                   {"question_id": "larger", "side": "A", "rt_ms": 5}]}, "twice"),
        ({"idempotency_key": "k" * 12, "answers": [], "method": "gradcam"}, "Unknown field"),
        ([1, 2, 3], "JSON object"),
    ],
)
def test_malformed_bodies_get_a_clear_400_and_no_rows(app, started, body, message):
    r = started.client.post(f"/api/v1/participants/{started.token}/trials/-1/answers", json=body)
    assert r.status_code == 400 and message in r.get_json()["error"]
    assert n_rows(app) == 0


def test_not_json_is_415_and_broken_json_is_400(app, started):
    url = f"/api/v1/participants/{started.token}/trials/-1/answers"
    r = started.client.post(url, data="side=A")
    assert r.status_code == 415 and "application/json" in r.get_json()["error"]
    r = started.client.post(url, data="{not json", content_type="application/json")
    assert r.status_code == 400 and "not valid JSON" in r.get_json()["error"]
    assert n_rows(app) == 0


def test_huge_body_is_413(app, started):
    body = json.dumps({"idempotency_key": "k" * 12, "answers": [], "pad": "x" * 200_000})
    r = started.client.post(f"/api/v1/participants/{started.token}/trials/-1/answers", data=body,
                            content_type="application/json")
    assert r.status_code == 413 and "too large" in r.get_json()["error"]
    assert n_rows(app) == 0


def test_same_option_refused_when_the_study_turns_it_off(make_app, make_study, sqlite_url):
    study = make_study(toml="[survey]\nallow_same = false\n[assignment]\npairs_per_participant = 2\n")
    app = make_app(sqlite_url, study)


    w = Walker(app.test_client()).begin_lab_session("S1")
    html = w.get(f"/s/{w.token}/trial/-1").get_data(as_text=True)
    assert "About the same" not in html
    r = w.answer(-1, {"larger": "same", "focused": "A"})
    assert r.status_code == 400 and "side must be one of: A, B" in r.get_json()["error"]


def test_trial_json_names_no_method_and_state_reports_progress(started):
    trial = started.client.get(f"/api/v1/participants/{started.token}/trials/0").get_json()
    assert set(trial["images"]) == {"original", "a", "b"} and trial["options"] == ["A", "B", "same"]
    assert "gradcam" not in json.dumps(trial) and "hirescam" not in json.dumps(trial)
    state = started.current()
    assert state["next_trial"] == -1 and state["progress"] == {"answered": 0, "total": 5}


def test_response_rows_record_displayed_side_and_method(app, started):
    started.answer(-1)
    started.answer(0, {"larger": "A", "focused": "same"}, rt=1234)
    with app.app_context():
        t = db.session.scalar(select(Trial).filter_by(trial_index=0))
        rows = {r.question_id: r for r in t.responses}
        assert rows["larger"].response_method == (t.left_method if not t.is_attention_check else None)
        assert rows["focused"].response_method == (None if t.is_attention_check else "same")
        assert rows["larger"].rt_ms == 1234 and rows["larger"].answered_at is not None


def test_openapi_file_is_served_and_lists_the_answer_route(client):
    r = client.get("/api/v1/openapi.yaml")
    assert r.status_code == 200 and "/participants/{token}/trials/{index}/answers" in r.get_data(as_text=True)


def test_concurrent_duplicate_posts_store_one_row_per_question(make_app, any_db_url):
    import threading

    app = make_app(any_db_url)
    w = Walker(app.test_client()).begin_lab_session("RACE1")
    codes: list[int] = []
    barrier = threading.Barrier(6)

    def post() -> None:
        client = app.test_client()
        barrier.wait(timeout=10)
        body = {"idempotency_key": "race-key-0001",
                "answers": [{"question_id": "larger", "side": "A", "rt_ms": 5},
                            {"question_id": "focused", "side": "B", "rt_ms": 6}]}
        codes.append(client.post(f"/api/v1/participants/{w.token}/trials/-1/answers", json=body).status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(codes) == [200] * 5 + [201]
    assert n_rows(app) == 2


@pytest.mark.parametrize("path", [
    "/api/v1/participants/{t}/trials/99999999999999999999/answers",
    "/api/v1/participants/{t}/trials/-5/answers",
    "/api/v1/participants/{t}%00/trials/0/answers",
    "/api/v1/participants/{t}'--/trials/0/answers",
    "/api/v1/participants/" + "x" * 5000 + "/trials/0/answers",
])
def test_tampered_paths_are_4xx_without_rows(app, started, path):
    r = started.client.post(path.format(t=started.token), json={"idempotency_key": "k" * 12, "answers": []})
    assert 400 <= r.status_code < 500
    assert n_rows(app) == 0


def test_huge_negative_index_is_404(app, started):
    r = started.client.post(f"/api/v1/participants/{started.token}/trials/-99999999999999999999/answers",
                            json={"idempotency_key": "k" * 12, "answers": [
                                {"question_id": "larger", "side": "A", "rt_ms": 5},
                                {"question_id": "focused", "side": "B", "rt_ms": 6}]})
    assert r.status_code == 404
    assert started.client.get(f"/api/v1/participants/{started.token}/trials/-99999999999999999999").status_code == 404


def test_the_answer_reply_carries_the_next_trial_as_its_page_would_show_it(app, started):
    """survey.js shows the next trial in place from the reply: it must be exactly what
    GET .../trials/<index> says about that trial, until the last one (then null)."""
    r = started.answer(-1)
    saved = r.get_json()
    following = saved["next_trial"]
    assert following is not None and saved["next_url"].endswith(f"/trial/{following['trial_index']}")
    page_view = started.client.get(f"/api/v1/participants/{started.token}/trials/{following['trial_index']}").get_json()
    assert following == page_view
    assert following["answered"] is False and following["progress"]["answered"] == 0
    # a retry of that POST gets the same next trial
    again = started.answer(-1, key=None)
    assert again.status_code == 200 and again.get_json()["next_trial"] == following
    # walk to the end: the progress moves on by one each time, the last reply has no trial
    seen = 0
    while following is not None:
        assert following["progress"]["answered"] == seen
        saved = started.answer(following["trial_index"]).get_json()
        following, seen = saved["next_trial"], seen + 1
    assert saved["next_url"].endswith(("/questionnaire", "/done"))
    blob = json.dumps(saved)
    assert "gradcam" not in blob and "hirescam" not in blob

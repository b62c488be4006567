"""Fuzzing every participant and admin endpoint with malformed, oversized and random
input (hypothesis, a bounded number of examples): never a 5xx, never a stray row."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.webapp.helpers import Walker
from webapp.data.engine import db
from webapp.data.tables import Participant, Response, Trial

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
                derandomize=True)
ADMIN = "fuzz-admin-token-1"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=20), inner, max_size=6),
    max_leaves=25,
)
answer_like = st.fixed_dictionaries({
    "idempotency_key": st.one_of(st.text(max_size=70), st.just("k" * 16), st.integers()),
    "answers": st.one_of(
        json_values,
        st.lists(st.fixed_dictionaries({
            "question_id": st.sampled_from(["larger", "focused", "other", ""]) | st.text(max_size=10),
            "side": st.sampled_from(["A", "B", "same", "C", ""]) | json_values,
            "rt_ms": st.integers(-10, 10**9) | json_values,
        }), max_size=4),
    ),
}) | json_values


def _valid_answer(key: str = "fuzzkey-0001") -> dict:
    return {"idempotency_key": key, "answers": [{"question_id": "larger", "side": "A", "rt_ms": 900},
                                                {"question_id": "focused", "side": "B", "rt_ms": 900}]}


def _nested(depth: int, kind: str) -> bytes:
    opener, closer = {"list": (b"[", b"]"), "object": (b'{"a":', b"}"), "mixed": (b'[{"a":', b"}]")}[kind]
    return opener * depth + b"1" + closer * depth


def _with_token(token: str) -> bytes:
    """A valid answer body with one value replaced by a raw token the json module might accept."""
    return json.dumps(_valid_answer()).replace('900', token, 1).encode()


# Parser-level input: bodies that attack the JSON parser rather than the fields.
parser_level = st.one_of(
    st.builds(_nested, st.integers(1, 5000), st.sampled_from(["list", "object", "mixed"])),
    st.builds(_with_token, st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "1E+2", "-0",
                                            "0.0000000001", "1" * 5000, "9" * 30, "1" + "0" * 400 + ".5"])),
    st.integers(1, 20_000).map(lambda n: b'{"rt_ms": ' + b"7" * n + b"}"),
    st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1", "utf-8-sig", "cp1252"]).map(
        lambda enc: json.dumps({**_valid_answer(), "x": "\u00e9\u00fc"}, ensure_ascii=False).encode(enc, "replace")),
    st.sampled_from([rb"\u0000", rb"\ud800", rb"\udfff\ud800", rb"\u0000\u0000", rb"\\u0000"]).map(
        lambda esc: b'{"idempotency_key": "k' + esc + b'", "answers": []}'),
    st.binary(max_size=300),
    st.tuples(st.integers(0, 120), st.binary(min_size=1, max_size=4)).map(
        lambda t: (lambda b: b[:t[0]] + t[1] + b[t[0]:])(json.dumps(_valid_answer()).encode())),
    st.just(b'{"answers": [], "answers": [], "idempotency_key": "dupdupdup1"}'),
    st.just(b"\xef\xbb\xbf" + json.dumps(_valid_answer()).encode()),
    st.just(b"[" * 2000), st.just(b'"' + b"\\\\" * 3000 + b'"'), st.just(b"\x00" * 100),
)
body_ctypes = st.sampled_from(["application/json", "application/json; charset=utf-16", "application/vnd.x+json",
                               "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "",
                               "application/json; charset=latin-1", "APPLICATION/JSON"])

path_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=80)


@pytest.fixture
def fuzz_app(make_app, sqlite_url):
    return make_app(sqlite_url, CAMSTUDY_ADMIN_TOKEN=ADMIN)


def counts(app) -> tuple[int, int, int]:
    with app.app_context():
        s = db.session
        return (s.scalar(select(func.count(Participant.id))), s.scalar(select(func.count(Trial.id))),
                s.scalar(select(func.count(Response.id))))


def started(app) -> Walker:
    w = Walker(app.test_client()).begin_lab_session("FUZZ1")
    return w


def test_answer_posts_with_random_bodies(fuzz_app):
    w = started(fuzz_app)

    @FUZZ
    @given(body=answer_like, index=st.integers(-200, 200), raw=st.booleans(), ctype=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"]))
    def run(body, index, raw, ctype):
        before = counts(fuzz_app)
        data = json.dumps(body)[:70_000] if not raw else json.dumps(body)[:-1]  # raw: truncated, invalid JSON
        r = w.client.post(f"/api/v1/participants/{w.token}/trials/{index}/answers", data=data, content_type=ctype)
        assert r.status_code < 500, r.get_data(as_text=True)
        assert r.is_json and "error" in r.get_json() or r.status_code in (200, 201)
        after = counts(fuzz_app)
        assert after[:2] == before[:2]
        assert after[2] - before[2] == (2 if r.status_code == 201 else 0)

    run()


def test_parser_level_bodies_get_a_4xx_and_store_nothing(make_app, any_db_url):
    """Deep nesting, huge numbers, NaN/Infinity, other encodings, NUL and lone surrogates,
    random bytes and wrong content types: always a 4xx with a JSON error, never a row
    (on PostgreSQL too, which refuses NUL in text where SQLite stores it)."""
    fuzz_app = make_app(any_db_url)
    w = started(fuzz_app)
    before = counts(fuzz_app)
    token = st.sampled_from([w.token, "x" * 24])  # no token needed for the parser to run

    @FUZZ
    @given(body=parser_level, ctype=body_ctypes, t=token, index=st.sampled_from([0, 3, 99999]))  # never the open trial: 201 impossible
    def run(body, ctype, t, index):
        r = w.client.post(f"/api/v1/participants/{t}/trials/{index}/answers", data=body,
                          headers={"Content-Type": ctype} if ctype else {})
        assert 400 <= r.status_code < 500, (body[:80], ctype, r.status_code)
        assert r.is_json and r.get_json()["error"], r.get_data()[:200]

    run()
    assert counts(fuzz_app) == before


raw_form_bodies = st.one_of(
    parser_level,
    st.just(b"a=%ff%fe&b=%zz&%=&=%&participant_id=%00"),
    st.integers(1, 3000).map(lambda n: b"&".join(b"f%d=x" % i for i in range(n))),  # many fields
    st.just(b"--b\r\nContent-Disposition: form-data; name=\"participant_id\"\r\n\r\nX\r\n"),  # no end
    st.just(b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\r\n" + b"\x00" * 5000 + b"\r\n--b--\r\n"),
)
form_ctypes = st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data; boundary=b",
                               "multipart/form-data", "multipart/form-data; boundary=", "application/json",
                               "text/plain", "application/x-www-form-urlencoded; charset=utf-16", ""])


def test_raw_bodies_on_every_post_route(fuzz_app):
    """The form and multipart parsers get the same treatment as the JSON one: never a 5xx."""
    w = started(fuzz_app)
    before = counts(fuzz_app)

    @FUZZ
    @given(body=raw_form_bodies, ctype=form_ctypes,
           route=st.sampled_from(["/lab", f"/s/{w.token}/consent", f"/s/{w.token}/instructions",
                                  f"/s/{w.token}/questionnaire", "/admin/login", "/admin/logout",
                                  f"/api/v1/participants/{w.token}/trials/3/answers"]))
    def run(body, ctype, route):
        r = w.client.post(route, data=body, headers={"Content-Type": ctype} if ctype else {})
        assert r.status_code < 500, (route, ctype, body[:60], r.status_code)

    run()
    assert counts(fuzz_app) == before


def test_random_tokens_and_indices_on_every_participant_route(fuzz_app):
    client = fuzz_app.test_client()
    before = counts(fuzz_app)

    @FUZZ
    @given(token=path_text, index=st.integers(-10**6, 10**6) | path_text, method=st.sampled_from(["GET", "POST"]),
           route=st.sampled_from(["/s/{t}/", "/s/{t}/consent", "/s/{t}/instructions", "/s/{t}/trial/{i}",
                                  "/s/{t}/questionnaire", "/s/{t}/done", "/api/v1/participants/{t}",
                                  "/api/v1/participants/{t}/trials/{i}", "/api/v1/participants/{t}/trials/{i}/answers",
                                  "/stimuli/{t}.png", "/lab", "/", "/healthz"]),
           form=st.dictionaries(st.sampled_from(["csrf_token", "agree", "participant_id", "familiarity", "comments", "x"]),
                                st.text(max_size=100), max_size=5))
    def run(token, index, method, route, form):
        url = route.format(t=token.replace("/", "%2F").replace("?", "%3F").replace("#", "%23"), i=index)
        r = client.open(url, method=method, data=form)
        assert r.status_code < 500, (url, r.status_code)

    run()
    assert counts(fuzz_app) == before


def test_forms_with_random_fields_store_nothing_without_a_valid_token(fuzz_app):
    w = started(fuzz_app)
    before = counts(fuzz_app)

    @FUZZ
    @given(form=st.dictionaries(st.sampled_from(["csrf_token", "agree", "participant_id", "familiarity", "comments",
                                                 "password", "submit"]),
                                st.text(max_size=300) | st.just("x" * 70_000), max_size=6),
           route=st.sampled_from(["/lab", f"/s/{w.token}/consent", f"/s/{w.token}/instructions",
                                  f"/s/{w.token}/questionnaire", "/admin/login", "/admin/logout"]))
    def run(form, route):
        r = w.client.post(route, data=form)
        assert r.status_code < 500, (route, r.status_code)

    run()
    assert counts(fuzz_app) == before


def test_admin_endpoints_with_random_queries_and_credentials(fuzz_app):
    client = fuzz_app.test_client()
    started(fuzz_app)
    before = counts(fuzz_app)

    @FUZZ
    @given(route=st.sampled_from(["/admin/", "/admin/api/counts", "/admin/export.csv", "/admin/export.json",
                                  "/admin/login"]),
           query=st.dictionaries(st.sampled_from(["study", "token", "x"]), path_text, max_size=3),
           auth=st.sampled_from([None, f"Bearer {ADMIN}", "Bearer wrong", "Basic abc"]) | path_text.map(lambda s: "Bearer " + s))
    def run(route, query, auth):
        auth = (auth or "").encode("utf-8", "replace").decode("latin-1").replace("\r", "").replace("\n", "")
        headers = {"Authorization": auth} if auth else {}  # a header can carry no newline
        r = client.get(route, query_string=query, headers=headers)
        assert r.status_code < 500, (route, query, r.status_code)

    run()
    assert counts(fuzz_app) == before


def test_oversized_bodies_are_refused_with_413(fuzz_app):
    w = started(fuzz_app)
    before = counts(fuzz_app)
    big = "x" * (1024 * 1024)
    for url, kw in [(f"/api/v1/participants/{w.token}/trials/0/answers", {"data": big, "content_type": "application/json"}),
                    ("/lab", {"data": {"participant_id": big}}),
                    (f"/s/{w.token}/questionnaire", {"data": {"comments": big}}),
                    ("/admin/login", {"data": {"password": big}})]:
        r = w.client.post(url, **kw)
        assert r.status_code == 413, (url, r.status_code)
    assert counts(fuzz_app) == before


def test_worst_case_bodies_are_refused_quickly(fuzz_app):
    """Bodies near the 64 KiB cap built to make a parser (or the depth check) do quadratic
    work: each answered within 2 s (an unterminated string of escaped quotes once took 29 s)."""
    import time

    url = f"/api/v1/participants/{'a' * 24}/trials/0/answers"
    client = fuzz_app.test_client()
    for body in ['"' + '\\"' * 32000, '"' * 65000, '"\\' * 32000, "[" * 65000, '["' + "[" * 60000,
                 "[" + '"a",' * 16000 + '"a"]', "{" + '"a":{' * 10000]:
        started = time.perf_counter()
        r = client.post(url, data=body.encode(), content_type="application/json")
        assert 400 <= r.status_code < 500 and time.perf_counter() - started < 2, (body[:20], r.status_code)

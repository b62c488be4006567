"""Admin credentials that mean something: sessions end with logout and with a changed
token or password, token guesses are rate limited, and the token never reaches a log."""
from __future__ import annotations

import re

import pytest

from tests.webapp.helpers import Walker

OLD, NEW = "old-admin-token-1", "new-admin-token-2"


def logged_in(app, kind: str, secret: str):
    c = app.test_client()
    if kind == "token":
        r = c.get(f"/admin/?token={secret}")
        assert r.status_code == 302 and "token" not in r.headers["Location"]
    else:
        assert Walker(c).form("/admin/login", {"password": secret}).status_code == 302
    assert c.get("/admin/api/counts").status_code == 200
    return c


@pytest.mark.parametrize("kind", ["token", "password"])
def test_old_admin_cookie_fails_after_the_credential_changes(make_app, make_study, any_db_url, kind):
    key = {"token": "CAMSTUDY_ADMIN_TOKEN", "password": "CAMSTUDY_ADMIN_PASSWORD"}[kind]
    study = make_study()
    before = logged_in(make_app(any_db_url, study, **{key: OLD}), kind, OLD)
    cookie = before.get_cookie("session").value
    restarted = make_app(any_db_url, study, **{key: NEW})  # same SECRET_KEY and database, new credential
    replay = restarted.test_client()
    replay.set_cookie("session", cookie)
    assert replay.get("/admin/api/counts").status_code == 401
    assert replay.get("/admin/").headers["Location"].endswith("/admin/login")
    logged_in(restarted, kind, NEW)  # the new credential works


def test_logout_ends_the_session_for_a_copied_cookie_too(make_app, any_db_url):
    app = make_app(any_db_url, CAMSTUDY_ADMIN_TOKEN=OLD)
    c = logged_in(app, "token", OLD)
    cookie = c.get_cookie("session").value
    page = c.get("/admin/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # the logout form's
    assert c.post("/admin/logout", data={"csrf_token": csrf}).status_code == 302
    assert c.get("/admin/api/counts").status_code == 401
    copy = app.test_client()
    copy.set_cookie("session", cookie)  # the cookie as it was before logout
    assert copy.get("/admin/api/counts").status_code == 401


def test_query_token_guesses_get_429(make_app, sqlite_url):
    app = make_app(sqlite_url, CAMSTUDY_ADMIN_TOKEN=OLD, RATELIMIT_ENABLED=True, CAMSTUDY_RATE_LOGIN="3 per minute")
    c = app.test_client()
    assert [c.get(f"/admin/?token=guess{i}").status_code for i in range(4)] == [302, 302, 302, 429]
    assert c.get(f"/admin/?token={OLD}").status_code == 429  # locked out for the minute, like the login form


def test_bearer_token_guesses_get_429(make_app, sqlite_url):
    app = make_app(sqlite_url, CAMSTUDY_ADMIN_TOKEN=OLD, RATELIMIT_ENABLED=True, CAMSTUDY_RATE_LOGIN="3 per minute")
    c = app.test_client()
    codes = [c.get("/admin/api/counts", headers={"Authorization": f"Bearer guess{i}"}).status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    r = c.get("/admin/api/counts", headers={"Authorization": f"Bearer {OLD}"})
    assert r.status_code == 429 and "Too many requests" in r.get_json()["error"]


def test_right_bearer_tokens_are_not_counted_as_guesses(make_app, sqlite_url):
    app = make_app(sqlite_url, CAMSTUDY_ADMIN_TOKEN=OLD, RATELIMIT_ENABLED=True, CAMSTUDY_RATE_LOGIN="3 per minute")
    c = app.test_client()
    assert {c.get("/admin/api/counts", headers={"Authorization": f"Bearer {OLD}"}).status_code
            for _ in range(6)} == {200}


def test_token_in_the_url_keeps_the_other_parameters(make_app, sqlite_url):
    app = make_app(sqlite_url, CAMSTUDY_ADMIN_TOKEN=OLD)
    r = app.test_client().get(f"/admin/api/counts?study=test-study&token={OLD}")
    assert r.status_code == 302 and r.headers["Location"] == "/admin/api/counts?study=test-study"


def test_dev_server_request_log_leaves_the_admin_token_out(make_app, sqlite_url):
    import io

    import requests
    from werkzeug.serving import make_server

    from tests.webapp.helpers import serving
    from webapp.server.devserver import request_handler

    app = make_app(sqlite_url, CAMSTUDY_ADMIN_TOKEN=OLD)
    log = io.StringIO()
    with serving(make_server("127.0.0.1", 0, app, threaded=True, request_handler=request_handler(log))) as server:
        base = f"http://127.0.0.1:{server.server_port}"
        assert requests.get(f"{base}/admin/?token={OLD}", timeout=10).status_code == 200
        requests.get(f"{base}/lab?x=kept", timeout=10)
    logged = log.getvalue()
    assert "GET /admin/ HTTP" in logged and "/lab?x=kept" in logged  # the log is on
    assert OLD not in logged


def test_scrubbed_request_lines():
    from webapp.server.access_log import scrub_request_line

    assert scrub_request_line("GET /admin/?token=abc HTTP/1.1") == "GET /admin/ HTTP/1.1"
    assert scrub_request_line("GET /admin?token=abc HTTP/1.1") == "GET /admin HTTP/1.1"
    assert scrub_request_line("GET /administrator?q=1 HTTP/1.1") == "GET /administrator?q=1 HTTP/1.1"
    assert re.search("token", scrub_request_line("GET /admin/export.csv?study=s&token=abc HTTP/1.1")) is None

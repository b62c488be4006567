"""The researcher's area: off unless configured, password or token, live progress, export."""
from __future__ import annotations

from tests.webapp.helpers import Walker


def test_admin_is_off_without_password_or_token(client):
    r = client.get("/admin/")
    assert r.status_code == 404 and "CAMSTUDY_ADMIN_PASSWORD" in r.get_data(as_text=True)


def test_password_login_shows_progress(make_app, sqlite_url):
    app = make_app(sqlite_url, CAMSTUDY_ADMIN_PASSWORD="s3cret")
    w = Walker(app.test_client())
    assert w.get("/admin/").headers["Location"].endswith("/admin/login")
    assert "Wrong password" in w.form("/admin/login", {"password": "nope"}).get_data(as_text=True)
    assert w.form("/admin/login", {"password": "s3cret"}).status_code == 302
    html = w.get("/admin/").get_data(as_text=True)
    assert "Study test-study" in html and "No participants yet" in html and "attention check" in html


def test_token_in_url_logs_in_once_and_is_dropped_from_the_url(make_app, sqlite_url):
    app = make_app(sqlite_url, CAMSTUDY_ADMIN_TOKEN="tok-123456")
    c = app.test_client()
    assert c.get("/admin/?token=wrong").status_code == 302
    r = c.get("/admin/?token=tok-123456")
    assert r.status_code == 302 and "token" not in r.headers["Location"]
    assert c.get("/admin/").status_code == 200


def test_bearer_token_for_counts_and_export(make_app, sqlite_url):
    app = make_app(sqlite_url, CAMSTUDY_ADMIN_TOKEN="tok-123456")
    w = Walker(app.test_client()).begin_lab_session("AD1")
    w.finish({"larger": "B", "focused": "A"})  # fails the attention check on both questions
    anon = app.test_client()
    assert anon.get("/admin/api/counts").status_code == 401
    auth = {"Authorization": "Bearer tok-123456"}
    counts = anon.get("/admin/api/counts", headers=auth).get_json()
    assert counts["participants"] == 1 and counts["completed"] == 1
    assert counts["answers"] == 10 and counts["attention_failures"] == 2
    csv_text = anon.get("/admin/export.csv", headers=auth).get_data(as_text=True)
    assert csv_text.startswith("# camstudy-responses format_version=1") and csv_text.count("\n") == 12
    html = anon.get("/admin/", headers=auth).get_data(as_text=True)
    assert "AD1" in html and "5 / 5" in html

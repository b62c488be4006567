"""Secret key, cookies, CSRF, headers, rate limits, and the schema check at start-up."""
from __future__ import annotations

import pytest

from tests.webapp.helpers import Walker
from webapp.app import create_app
from webapp.data.migrate import SchemaError, downgrade, upgrade


def test_secret_key_is_required_outside_debug(sqlite_url, monkeypatch):
    monkeypatch.delenv("CAMSTUDY_SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    upgrade(sqlite_url)
    with pytest.raises(RuntimeError, match="CAMSTUDY_SECRET_KEY"):
        create_app({"DATABASE_URL": sqlite_url})
    assert create_app({"DATABASE_URL": sqlite_url, "DEBUG": True}).config["SECRET_KEY"]


def test_app_refuses_an_out_of_date_schema_and_names_the_fix(sqlite_url):
    with pytest.raises(SchemaError, match="camstudy db upgrade"):
        create_app({"DATABASE_URL": sqlite_url, "SECRET_KEY": "x"})
    upgrade(sqlite_url)
    downgrade(sqlite_url, "base")
    with pytest.raises(SchemaError, match="no schema.*camstudy db upgrade"):
        create_app({"DATABASE_URL": sqlite_url, "SECRET_KEY": "x"})


def test_session_cookie_is_secure_httponly_and_lax_outside_debug(make_app, sqlite_url):
    app = make_app(sqlite_url, TESTING=False)
    w = Walker(app.test_client())
    page = w.get("/lab")
    assert page.status_code == 200
    cookie = page.headers.get("Set-Cookie", "")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_forms_without_csrf_token_are_refused(client, app):
    app.config["WTF_CSRF_ENABLED"] = True
    r = client.post("/lab", data={"participant_id": "X1"})
    assert r.status_code == 400 and "did not come from this site" in r.get_data(as_text=True)


def test_security_headers_on_pages(client):
    h = client.get("/lab").headers
    assert "script-src 'self'" in h["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "no-referrer" and h["Cache-Control"] == "no-store"


def test_stimuli_are_cached_long_and_stripped_of_metadata(make_app, make_study, sqlite_url):
    app = make_app(sqlite_url, make_study(leak_metadata=True))
    w = Walker(app.test_client()).begin_lab_session("M1")
    trial = w.client.get(f"/api/v1/participants/{w.token}/trials/0").get_json()
    r = w.get(trial["images"]["a"])
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert "immutable" in r.headers["Cache-Control"] and "max-age=31536000" in r.headers["Cache-Control"]
    data = r.get_data()
    assert b"tEXt" not in data and b"method=" not in data
    from io import BytesIO

    from PIL import Image

    assert Image.open(BytesIO(data)).size == (32, 32)  # still a valid PNG


def test_rate_limit_on_answers_is_429_with_a_message(make_app, sqlite_url):
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, CAMSTUDY_RATE_ANSWERS="3 per minute")
    w = Walker(app.test_client()).begin_lab_session("R1")
    codes = [w.answer(-1, key="same-key-123").status_code for _ in range(4)]
    assert codes == [201, 200, 200, 429]
    assert "Too many requests" in w.responses[-1][1].get_json()["error"]


def test_lab_password_when_set(make_app, sqlite_url):
    app = make_app(sqlite_url, CAMSTUDY_LAB_PASSWORD="lab-pw")
    w = Walker(app.test_client())
    assert "Lab password" in w.get("/lab").get_data(as_text=True)
    r = w.form("/lab", {"password": "wrong"})
    assert "Wrong password" in r.get_data(as_text=True)
    r = w.form("/lab", {"password": "lab-pw"})
    assert r.status_code == 302
    assert w.start_lab("PW1")


def test_kiosk_mode_starts_a_fresh_anonymous_participant_each_time(make_app, make_study, sqlite_url):
    app = make_app(sqlite_url, make_study(toml='[recruitment]\nlab_mode = "kiosk"\n'))
    w = Walker(app.test_client())
    assert w.start_lab("") != w.start_lab("")


def test_bad_participant_id_is_refused_with_the_pattern(walker):
    r = walker.form("/lab", {"participant_id": "bad id!"})
    assert r.status_code == 200 and "Enter a participant id matching" in r.get_data(as_text=True)

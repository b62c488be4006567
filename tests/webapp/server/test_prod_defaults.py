"""`camstudy serve --prod` with its defaults, attacked over real HTTP on 127.0.0.1: spoofed
X-Forwarded-For against the rate limits, the admin token in the access log, token
guesses, and `camstudy simulate --url` meeting Secure cookies over plain HTTP."""
from __future__ import annotations

import random
import re

import pytest
import requests

from tests.webapp.helpers import build_study, csrf_of, migrate_and_import
from tests.webapp.prod_server import LAB_PASSWORD, start_prod

pytestmark = pytest.mark.slow

TOKEN = "prod-admin-token-7c1e0b"


@pytest.fixture(scope="module")
def study_db(tmp_path_factory):
    root = tmp_path_factory.mktemp("prod-defaults")
    url = f"sqlite:///{root / 'survey.sqlite3'}"
    study = build_study(root / "studies")
    migrate_and_import(url, study)
    return url, root


@pytest.fixture(scope="module")
def direct(study_db):
    """Clients connect directly (no --proxy-hops given), plain HTTP, access log on."""
    url, root = study_db
    server = start_prod(url, root / "direct.log", workers=1, threads=4, proxy_hops=None,
                        extra_env={"CAMSTUDY_ADMIN_TOKEN": TOKEN}, extra_args=["--access-log"])
    yield server
    server.stop()


def spoofed() -> dict[str, str]:
    return {"X-Forwarded-For": ".".join(str(random.randint(1, 254)) for _ in range(4))}


def test_full_admin_visit_leaves_no_token_in_the_server_log(direct):
    browser = requests.Session()
    r = browser.get(f"{direct.url}/admin/?token={TOKEN}", timeout=10)
    assert r.status_code == 200 and r.url == f"{direct.url}/admin/" and "Study test-study" in r.text
    assert browser.get(f"{direct.url}/admin/api/counts", timeout=10).json()["participants"] == 0
    assert browser.get(f"{direct.url}/admin/export.csv?study=test-study", timeout=10).status_code == 200
    api = requests.get(f"{direct.url}/admin/export.json", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert api.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
    assert browser.post(f"{direct.url}/admin/logout", data={"csrf_token": csrf}, timeout=10).status_code == 200
    assert browser.get(f"{direct.url}/admin/api/counts", timeout=10).status_code == 401
    log = direct.log.read_text()
    assert "GET /admin/ HTTP" in log and "/admin/export.csv" in log  # the access log is on
    assert TOKEN not in log


def test_spoofed_forwarded_for_does_not_walk_past_the_lab_rate_limit(direct):
    """30 starts per minute per address; a new X-Forwarded-For per request must not reset it."""
    browser = requests.Session()
    csrf = csrf_of(browser.get(f"{direct.url}/lab", timeout=10).text)
    codes = [browser.post(f"{direct.url}/lab", data={"csrf_token": csrf, "participant_id": f"X{i}"},
                          headers=spoofed(), allow_redirects=False, timeout=10).status_code for i in range(40)]
    assert codes.count(429) >= 10, codes


def test_spoofed_forwarded_for_does_not_walk_past_admin_guess_limits(direct):
    """10 guesses per minute per address, for passwords and tokens alike."""
    guesses = [requests.get(f"{direct.url}/admin/api/counts", headers={"Authorization": f"Bearer guess{i}", **spoofed()},
                            timeout=10).status_code for i in range(12)]
    assert guesses[:10] == [401] * 10 and guesses[10:] == [429, 429], guesses
    r = requests.get(f"{direct.url}/admin/?token={TOKEN}", headers=spoofed(), allow_redirects=False, timeout=10)
    assert r.status_code == 429  # even the right token waits out the minute
    assert TOKEN not in direct.log.read_text()


def test_simulate_explains_the_secure_cookie_refusal(study_db, capsys):
    from crowdsim import main as simulate_main

    url, root = study_db
    server = start_prod(url, root / "secure.log", workers=1, threads=2, proxy_hops=None,
                        extra_env={"CAMSTUDY_COOKIE_SECURE": "1"})
    try:
        status = simulate_main(["--url", server.url, "--participants", "2", "--concurrency", "2",
                                "--max-seconds", "30", "--no-progress", "--lab-password", LAB_PASSWORD])
    finally:
        server.stop()
    err = capsys.readouterr().err
    assert status == 1
    assert "Secure" in err and "CAMSTUDY_COOKIE_SECURE=0" in err and "https://" in err, err
    assert err.count("CAMSTUDY_COOKIE_SECURE=0") == 1  # said once, not once per participant


def test_hostile_bodies_over_real_http_get_4xx(direct):
    """The parser attacks through gunicorn, as sent by a client: chunked and oversized too."""
    url = f"{direct.url}/api/v1/participants/{'a' * 24}/trials/0/answers"
    json_type = {"Content-Type": "application/json"}
    bodies = {
        "deep": b"[" * 1000 + b"]" * 1000,
        "nan": b'{"idempotency_key": "abcdefgh", "answers": NaN}',
        "huge number": b'{"rt_ms": ' + b"9" * 4000 + b"}",
        "utf-16": '{"answers": []}'.encode("utf-16"),
        "nul": b'{"idempotency_key": "abc\\u0000defgh"}',
        "oversized": b"[" + b"1," * 100_000 + b"1]",
    }
    for name, body in bodies.items():
        r = requests.post(url, data=body, headers=json_type, timeout=30)
        assert 400 <= r.status_code < 500 and r.json()["error"], (name, r.status_code)
    chunked = requests.post(url, data=(b"[" + b"1," * 1000 for _ in range(100)), headers=json_type, timeout=30)
    assert chunked.status_code in (400, 413), chunked.status_code  # no Content-Length: still bounded
    wrong_type = requests.post(url, data=b"{}", headers={"Content-Type": "text/plain"}, timeout=30)
    assert wrong_type.status_code == 415


def raw_status(server, request: bytes, half_close: bool = False) -> int:
    """Send bytes no HTTP library would, and read the status code of the answer."""
    import socket

    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=15) as s:
        s.sendall(request)
        if half_close:  # the client stops sending before the body it announced is complete
            s.shutdown(socket.SHUT_WR)
        return int(s.recv(100).split(b" ")[1])


@pytest.mark.parametrize("framing", ["bad chunk size", "chunk without terminator", "body cut short"])
def test_malformed_body_framing_gets_400(direct, framing):
    head = (f"POST /api/v1/participants/{'a' * 24}/trials/0/answers HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\n").encode()
    request, half_close = {
        "bad chunk size": (head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", False),
        "chunk without terminator": (head + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n", False),
        "body cut short": (head + b"Content-Length: 100\r\n\r\n{\"answers\": ", True),
    }[framing]
    assert raw_status(direct, request, half_close) == 400


def test_create_prod_app_trusts_no_forwarded_header_by_default(make_app, sqlite_url, monkeypatch):
    """`gunicorn 'webapp.server.prod:create_prod_app()'` too: hops from CAMSTUDY_PROXY_HOPS, else none."""
    from webapp.server.prod import create_prod_app

    make_app(sqlite_url)
    config = {"TESTING": True, "SECRET_KEY": "k", "DATABASE_URL": sqlite_url}
    monkeypatch.delenv("CAMSTUDY_PROXY_HOPS", raising=False)
    claimed = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    assert "Strict-Transport-Security" not in create_prod_app(config).test_client().get("/healthz", headers=claimed).headers
    monkeypatch.setenv("CAMSTUDY_PROXY_HOPS", "1")  # behind nginx
    assert create_prod_app(config).test_client().get("/healthz", headers=claimed).headers["Strict-Transport-Security"]
    monkeypatch.setenv("CAMSTUDY_PROXY_HOPS", "one")
    with pytest.raises(ValueError, match="CAMSTUDY_PROXY_HOPS"):
        create_prod_app(config)

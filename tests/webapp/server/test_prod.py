"""Production serving: /healthz and ProxyFix behind a proxy (`camstudy serve --prod`
with several gunicorn workers under `camstudy simulate --url`: tests/crowdsim/test_cli.py)."""
from __future__ import annotations


def test_healthz_says_ok_when_the_database_answers(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json()["status"] == "ok"


def test_healthz_says_503_when_the_database_is_gone(tmp_path):
    from webapp.app import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "k", "CAMSTUDY_CHECK_SCHEMA": False,
                      "DATABASE_URL": "postgresql+psycopg://nobody:x@127.0.0.1:1/none?connect_timeout=2"})
    r = app.test_client().get("/healthz")
    assert r.status_code == 503 and r.get_json() == {"status": "unavailable", "database": "unreachable"}


def test_proxy_fix_trusts_the_configured_hops_only(make_app, sqlite_url):
    from webapp.server.prod import create_prod_app

    make_app(sqlite_url)  # migrated, study imported
    config = {"TESTING": True, "SECRET_KEY": "k", "DATABASE_URL": sqlite_url}
    behind = create_prod_app(config, proxy_hops=1).test_client()
    r = behind.get("/healthz", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert r.headers.get("Strict-Transport-Security")  # the proxy's TLS counts: request.is_secure
    direct = create_prod_app(config, proxy_hops=0).test_client()
    r = direct.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in r.headers  # a client cannot claim TLS by itself

"""Pages shown inside another site's frame (the MTurk worker site) without third-party cookies.

Inside a cross-site iframe the browser may drop the app's cookies, so a framed
participant's identity is the token in the URL alone:

- the CSRF secret of a framed participant's forms is derived from that token (HMAC with
  the app's secret key) instead of being kept in the session cookie: a form works
  whether or not the cookie comes back, and forging it needs the token, which already
  grants everything the form does;
- the session cookie, where the browser keeps it, is sent as ``SameSite=None; Secure``.

A source is framed when its ``frame_ancestors()`` is not ``'none'``.
"""
from __future__ import annotations

import hashlib
import hmac

from typing import Any

from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select

from webapp.data.engine import db
from webapp.data.tables import Participant
from webapp.recruitment import sources
from webapp.survey.navigation import KEY_RE


CACHEABLE_ENDPOINTS = frozenset({"static", "survey.stimulus"})


def is_framed(source: str | None) -> bool:
    return source in sources.SOURCES and sources.get(source).frame_ancestors() != "'none'"


class FramedSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, sent ``SameSite=None; Secure`` on framed participants' pages."""

    def get_cookie_samesite(self, app: Flask) -> str | None:
        return "None" if is_framed(g.get("participant_source")) else super().get_cookie_samesite(app)

    def get_cookie_secure(self, app: Flask) -> bool:
        return True if is_framed(g.get("participant_source")) else super().get_cookie_secure(app)

    def should_set_cookie(self, app: Flask, session_: Any) -> bool:
        """Images and static files (cacheable, fetched many times per page) and answer POSTs
        (the trials after the first are shown in place) never re-send an unchanged cookie;
        pages still refresh a permanent session as Flask does."""
        if (request.endpoint in CACHEABLE_ENDPOINTS or request.endpoint == "api.answer") and not session_.modified:
            return False
        return super().should_set_cookie(app, session_)


def csrf_secret_for(token: str) -> str:
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, b"camstudy-csrf:" + token.encode(), hashlib.sha256).hexdigest()


def _token_csrf(endpoint: str | None, values: dict | None) -> None:
    """Before CSRF is checked: a framed participant's CSRF secret comes from their URL token."""
    token = (values or {}).get("token")
    if (endpoint or "").startswith("api.") or not token or not KEY_RE.fullmatch(str(token)):
        return
    sources_by_token = current_app.extensions.setdefault("camstudy_token_source", {})
    source = sources_by_token.get(token)
    if source is None:  # a participant's source never changes: look it up once per process
        source = db.session.scalar(select(Participant.source).filter_by(token=token))
        if source is not None:
            if len(sources_by_token) >= 100_000:
                sources_by_token.clear()
            sources_by_token[token] = source
    if is_framed(source):
        g.participant_source = source
        field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        if session.get(field) != csrf_secret_for(token):
            session[field] = csrf_secret_for(token)


def init_app(app: Flask) -> None:
    app.session_interface = FramedSessionInterface()
    # URL value preprocessors run before every before_request function (Flask-WTF's check included).
    app.url_value_preprocessors.setdefault(None, []).append(_token_csrf)

"""CSRF, rate limits, security headers and error pages shared by every blueprint."""
from __future__ import annotations

import threading

from flask import Flask, Response, g, jsonify, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from limits.storage import MemoryStorage
from werkzeug.exceptions import HTTPException

from webapp.recruitment import sources



class LockedMemoryStorage(MemoryStorage):
    """``memory://`` rate-limit storage whose expiry timer is replaced under a lock.

    limits 5.8's MemoryStorage checks ``timer.is_alive()`` and then creates and starts a
    new timer without a lock, so two request threads of one gthread worker can both
    replace it and one calls ``start()`` on a timer the other already started:
    ``RuntimeError: threads can only be started once``, a 500 on the answer POST or
    /lab under load. Registering under the ``memory`` scheme makes Flask-Limiter's
    ``memory://`` (the default) use this class.
    """

    STORAGE_SCHEME = ["memory"]

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        self._timer_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def __setstate__(self, state: dict) -> None:
        self._timer_lock = threading.Lock()
        super().__setstate__(state)

    def _MemoryStorage__schedule_expiry(self) -> None:  # overrides the base class's private method
        if self.timer.is_alive():
            return
        with self._timer_lock:
            if not self.timer.is_alive():
                self.timer = threading.Timer(0.01, self._MemoryStorage__expire_events)
                self.timer.daemon = True
                self.timer.start()


csrf = CSRFProtect()
limiter = Limiter(get_remote_address, default_limits=[], headers_enabled=True)

CSP = (
    "default-src 'self'; img-src 'self' data: https:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action {form_action}; frame-ancestors {frame_ancestors}"
)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/admin/api/")


def error_response(status: int, message: str) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify(error=message, status=status), status
    return render_template("error.html", status=status, message=message), status


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    limiter.init_app(app)

    @app.after_request
    def _headers(resp: Response) -> Response:
        h = resp.headers
        source = g.get("participant_source")
        ancestors = sources.get(source).frame_ancestors() if source in sources.SOURCES else "'none'"
        form_action = sources.get(source).form_action() if source in sources.SOURCES else "'self'"
        csp = CSP.format(frame_ancestors=ancestors, form_action=form_action)
        if g.get("img_origins"):  # presigned stimulus URLs (e.g. an http:// S3-compatible store)
            csp = csp.replace("img-src 'self' data: https:", "img-src 'self' data: https: " + " ".join(sorted(g.img_origins)))
        h.setdefault("Content-Security-Policy", csp)
        if ancestors == "'none'":  # a source that is framed (MTurk) sets its own CSP instead
            h.setdefault("X-Frame-Options", "DENY")
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "no-referrer"  # participant tokens live in URLs
        h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), interest-cohort=()"
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        h["Cross-Origin-Resource-Policy"] = "same-origin"
        if request.is_secure:
            h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if "Cache-Control" not in h and not request.path.startswith("/static/"):
            h["Cache-Control"] = "no-store"
        return resp

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        return error_response(
            400, "This form expired or did not come from this site. Go back, reload the page and try again."
        )

    try:  # the body as gunicorn failed to read it (bad chunk framing, the client gone mid-body)
        from gunicorn.http.errors import NoMoreData, ParseException
    except ImportError:  # pragma: no cover - gunicorn is a dependency; the dev server has its own errors
        pass
    else:
        @app.errorhandler(ParseException)
        @app.errorhandler(NoMoreData)
        def _unreadable_body(exc: Exception):
            return error_response(400, f"The request body could not be read ({type(exc).__name__}).")

    @app.errorhandler(413)
    def _too_large(exc: HTTPException):
        return error_response(413, "The request is too large.")

    @app.errorhandler(429)
    def _too_many(exc: HTTPException):
        return error_response(429, "Too many requests; wait a moment and try again.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return error_response(exc.code or 500, exc.description or exc.name)

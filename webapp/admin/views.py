"""Researcher area: live progress per pair and participant, attention checks, export.

Off (404) unless ``CAMSTUDY_ADMIN_PASSWORD`` (login form) or ``CAMSTUDY_ADMIN_TOKEN``
(``Authorization: Bearer <token>``, or ``?token=`` once, which logs the browser in and
redirects to the same page without the token) is set. A logged-in browser holds a
server-side session (``AdminSession``): logout deletes it, and a changed token or
password ends every session opened with the old one. Wrong tokens count against the
same per-address rate limit as wrong passwords. Unlike participant pages, these pages
name the methods. Simulated participants (``camstudy simulate``, ids starting with
``sim-``) are counted and marked as such; participants answering faster than the
server-side timing rule allows (webapp/admin/timing.py) and crowd participants the platform
has not confirmed are flagged live.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_wtf import FlaskForm
from limits import parse
import sqlalchemy as sa
from sqlalchemy import delete, func, select
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired

from webapp.admin import timing
from webapp.data import export
from webapp.data.engine import db
from webapp.data.tables import AdminSession, Pair, Participant, Response as Answer, Study, Trial, utcnow
from webapp.server.security import limiter
from webapp.survey.navigation import active_study
from webapp.survey.study_cache import settings_of

bp = Blueprint("admin", __name__, url_prefix="/admin")

SESSION_LIFETIME = timedelta(hours=12)
CREDENTIALS = {"password": "CAMSTUDY_ADMIN_PASSWORD", "token": "CAMSTUDY_ADMIN_TOKEN"}


class LoginForm(FlaskForm):
    password = PasswordField("Admin password", validators=[DataRequired()])
    submit = SubmitField("Log in")


def _secret(name: str) -> str | None:
    return current_app.config.get(name) or None


def _matches(given: str | None, secret: str | None) -> bool:
    return bool(given and secret and hmac.compare_digest(given.encode(), secret.encode()))


# --------------------------------------------------------------------------- server-side sessions


def _fingerprint(kind: str) -> str | None:
    """A keyed hash of the current credential of this kind (None when it is not set)."""
    secret = _secret(CREDENTIALS[kind])
    if not secret:
        return None
    return hmac.new(current_app.secret_key.encode(), f"{kind}:{secret}".encode(), hashlib.sha256).hexdigest()


def _nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def open_session(kind: str) -> None:
    """Log this browser in with the credential of ``kind`` (and forget expired sessions)."""
    now = utcnow()
    nonce = secrets.token_urlsafe(32)
    db.session.execute(delete(AdminSession).where(AdminSession.expires_at < now))
    db.session.add(AdminSession(nonce_sha256=_nonce_hash(nonce), credential=_fingerprint(kind),
                                created_at=now, expires_at=now + SESSION_LIFETIME))
    db.session.commit()
    session["admin"] = nonce


def session_is_valid() -> bool:
    """The cookie's nonce names a live session opened with a credential still in force."""
    nonce = session.get("admin")
    if not isinstance(nonce, str):
        session.pop("admin", None)  # e.g. the boolean of older versions
        return False
    row = db.session.scalar(select(AdminSession).filter_by(nonce_sha256=_nonce_hash(nonce)))
    current = {_fingerprint(kind) for kind in CREDENTIALS} - {None}
    if row is not None and row.expires_at > utcnow() and row.credential in current:
        return True
    if row is not None:
        db.session.delete(row)
        db.session.commit()
    session.pop("admin", None)
    return False


def end_session() -> None:
    nonce = session.pop("admin", None)
    if isinstance(nonce, str):
        db.session.execute(delete(AdminSession).where(AdminSession.nonce_sha256 == _nonce_hash(nonce)))
        db.session.commit()


# --------------------------------------------------------------------------- token guesses


def _guess_limit():
    return parse(current_app.config["CAMSTUDY_RATE_LOGIN"])


def _guesses_left() -> bool:
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    return limiter.limiter.test(_guess_limit(), "admin-token-guess", get_remote_address())


def _count_guess() -> None:
    if current_app.config.get("RATELIMIT_ENABLED", True):
        limiter.limiter.hit(_guess_limit(), "admin-token-guess", get_remote_address())


def _token_given(given: str, token: str | None) -> bool:
    """True for the right token, False for a wrong one (counted); 429 once over the limit."""
    if not _guesses_left():
        abort(429)
    if _matches(given, token):
        return True
    _count_guess()
    return False


def _clean_url() -> str:
    """The URL asked for, without its ``token`` parameter (which then appears in no log or history)."""
    args = {k: v for k, v in request.args.items() if k != "token"}
    return url_for(request.endpoint or "admin.dashboard", **(request.view_args or {}), **args)


@bp.before_request
def _gate():
    password, token = _secret("CAMSTUDY_ADMIN_PASSWORD"), _secret("CAMSTUDY_ADMIN_TOKEN")
    if not password and not token:
        abort(404, "The admin area is off: set CAMSTUDY_ADMIN_PASSWORD or CAMSTUDY_ADMIN_TOKEN to turn it on.")
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer ") and _token_given(auth[7:], token):
        return None
    if session_is_valid() or request.endpoint == "admin.login":
        return None
    if "token" in request.args and _token_given(request.args["token"], token):
        open_session("token")
        return redirect(_clean_url())
    if request.path.startswith("/admin/api/") or request.path.endswith((".csv", ".json")):
        return jsonify(error="Admin login required.", status=401), 401
    return redirect(url_for("admin.login"))


def _login_rate() -> str:
    return current_app.config["CAMSTUDY_RATE_LOGIN"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate, methods=["POST"])
def login():
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        if _matches(form.password.data, _secret("CAMSTUDY_ADMIN_PASSWORD")):
            open_session("password")
            return redirect(url_for("admin.dashboard"))
        error = "Wrong password."
    return render_template("admin/login.html", form=form, error=error, password_set=bool(_secret("CAMSTUDY_ADMIN_PASSWORD")))


@bp.post("/logout")
def logout():
    end_session()
    return redirect(url_for("admin.login"))


def _study() -> Study:
    wanted = request.args.get("study")
    s = db.session.scalar(select(Study).filter_by(study_id=wanted)) if wanted else active_study(db.session)
    if s is None:
        abort(404, "No study is imported yet: run `camstudy import <study dir>`.")
    return s


def live_counts(study: Study) -> dict[str, int]:
    s = db.session
    now = utcnow()
    p = select(func.count(Participant.id)).where(Participant.study_pk == study.id)
    a = select(func.count(Answer.id)).join(Participant, Answer.participant_pk == Participant.id).join(
        Trial, Answer.trial_pk == Trial.id
    ).where(Participant.study_pk == study.id, Trial.is_practice.is_(False))
    timeout = settings_of(study).assignment["allocation_timeout_minutes"]
    medians = timing.median_server_ms(s, study.id)
    return {
        "participants": s.scalar(p),
        "simulated": s.scalar(p.where(Participant.is_simulated)),
        "too_fast": sum(timing.too_fast(m) for m in medians.values()),
        "unverified": s.scalar(p.where(Participant.verification.in_(("unverified", "rejected")))),
        "completed": s.scalar(p.where(Participant.completed_at.is_not(None))),
        "in_progress": s.scalar(p.where(Participant.completed_at.is_(None), Participant.declined_at.is_(None),
                                        Participant.last_seen_at >= now - timedelta(minutes=timeout))),
        "declined": s.scalar(p.where(Participant.declined_at.is_not(None))),
        "answers": s.scalar(a),
        "answers_last_5_min": s.scalar(a.where(Answer.answered_at >= now - timedelta(minutes=5))),
        "attention_failures": s.scalar(a.where(Answer.attention_correct.is_(False))),
    }


def pair_progress(study: Study) -> list[dict]:
    done = func.count(Trial.answered_at)
    rows = db.session.execute(
        select(Pair, done, func.count(Trial.id) - done)
        .outerjoin(Trial, (Trial.pair_pk == Pair.id) & Trial.is_practice.is_(False))
        .where(Pair.study_pk == study.id)
        .group_by(Pair.id)
        .order_by(Pair.is_attention_check, done, Pair.pair_id)
    )
    return [{"pair": pair, "answered": n, "open": o} for pair, n, o in rows]


def participant_progress(study: Study) -> list[dict]:
    """Per participant: real trials answered of allocated, and their attention checks:
    received (allocated), answered, failed (a check with any wrong answer). Practice
    trials, though drawn from spare checks, count for none of these."""
    real = (Trial.participant_pk == Participant.id) & Trial.is_practice.is_(False)
    check = real & Trial.is_attention_check

    def count(what, where) -> sa.ScalarSelect:
        return select(func.count(what)).where(where).correlate(Participant).scalar_subquery()

    failed = select(Answer.trial_pk).where(Answer.attention_correct.is_(False))
    rows = db.session.execute(
        select(Participant, count(Trial.answered_at, real), count(Trial.id, real), count(Trial.id, check),
               count(Trial.answered_at, check), count(Trial.id, check & Trial.id.in_(failed)))
        .where(Participant.study_pk == study.id)
        .order_by(Participant.created_at.desc())
    )
    medians = timing.median_server_ms(db.session, study.id)
    return [{"p": p, "answered": a, "total": t, "checks": c, "checks_answered": ca, "checks_failed": cf,
             "simulated": p.is_simulated, "median_server_ms": medians.get(p.id),
             "too_fast": timing.too_fast(medians.get(p.id)),
             "questionnaire": export.questionnaire_columns(p.questionnaire) if p.questionnaire else None}
            for p, a, t, c, ca, cf in rows]


@bp.get("/")
def dashboard():
    study = _study()
    settings = settings_of(study)
    studies = db.session.scalars(select(Study).order_by(Study.imported_at.desc())).all()
    return render_template(
        "admin/dashboard.html", study=study, studies=studies, counts=live_counts(study),
        pairs=pair_progress(study), participants=participant_progress(study),
        target=settings.assignment["ratings_per_pair"], speed_rule=timing.RULE,
        checks_target=settings.assignment["attention_checks_per_participant"],
    )


@bp.get("/api/counts")
def counts_json():
    study = _study()
    return jsonify(study_id=study.study_id, **live_counts(study))


@bp.get("/export.csv")
def export_csv():
    study = _study()
    return Response(export.to_csv(db.session, study.study_id), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=responses-{study.study_id}.csv"})


@bp.get("/export.json")
def export_json():
    study = _study()
    return Response(export.to_json(db.session, study.study_id), mimetype="application/json",
                    headers={"Content-Disposition": f"attachment; filename=responses-{study.study_id}.json"})


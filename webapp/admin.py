"""Researcher area: live progress per pair and participant, attention checks, export.

Off (404) unless ``CAMSTUDY_ADMIN_PASSWORD`` (login form) or ``CAMSTUDY_ADMIN_TOKEN``
(``Authorization: Bearer <token>``, or ``?token=`` once, which logs the browser in)
is set. Unlike participant pages, these pages name the methods. Simulated participants
(``camstudy simulate``, ids starting with ``sim-``) are counted and marked as such.
"""
from __future__ import annotations

import hmac
from datetime import timedelta
from functools import wraps

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
import sqlalchemy as sa
from sqlalchemy import func, select
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired

from webapp import export
from webapp.db import Pair, Participant, Response as Answer, Study, Trial, db, utcnow
from webapp.flow import active_study, settings_of
from webapp.security import limiter

bp = Blueprint("admin", __name__, url_prefix="/admin")


class LoginForm(FlaskForm):
    password = PasswordField("Admin password", validators=[DataRequired()])
    submit = SubmitField("Log in")


def _secret(name: str) -> str | None:
    return current_app.config.get(name) or None


def _matches(given: str | None, secret: str | None) -> bool:
    return bool(given and secret and hmac.compare_digest(given.encode(), secret.encode()))


@bp.before_request
def _gate():
    password, token = _secret("CAMSTUDY_ADMIN_PASSWORD"), _secret("CAMSTUDY_ADMIN_TOKEN")
    if not password and not token:
        abort(404, "The admin area is off: set CAMSTUDY_ADMIN_PASSWORD or CAMSTUDY_ADMIN_TOKEN to turn it on.")
    if session.get("admin"):
        return None
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer ") and _matches(auth[7:], token):
        return None
    if request.endpoint == "admin.login":
        return None
    if _matches(request.args.get("token"), token):
        session["admin"] = True
        return redirect(url_for(request.endpoint or "admin.dashboard"))  # drop the token from the URL
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
            session["admin"] = True
            return redirect(url_for("admin.dashboard"))
        error = "Wrong password."
    return render_template("admin/login.html", form=form, error=error, password_set=bool(_secret("CAMSTUDY_ADMIN_PASSWORD")))


@bp.post("/logout")
def logout():
    session.pop("admin", None)
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
    return {
        "participants": s.scalar(p),
        "simulated": s.scalar(p.where(Participant.is_simulated)),
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
    return [{"p": p, "answered": a, "total": t, "checks": c, "checks_answered": ca, "checks_failed": cf,
             "simulated": p.is_simulated} for p, a, t, c, ca, cf in rows]


@bp.get("/")
def dashboard():
    study = _study()
    settings = settings_of(study)
    studies = db.session.scalars(select(Study).order_by(Study.imported_at.desc())).all()
    return render_template(
        "admin/dashboard.html", study=study, studies=studies, counts=live_counts(study),
        pairs=pair_progress(study), participants=participant_progress(study),
        target=settings.assignment["ratings_per_pair"],
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


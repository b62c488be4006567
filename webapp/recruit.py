"""Recruitment entry points: the lab now; MTurk and Prolific add their routes here.

``/lab`` lets a researcher start (or resume) a session for a participant id they type,
or, with ``lab_mode = "kiosk"``, start a fresh anonymous participant per click. With
``CAMSTUDY_LAB_PASSWORD`` set the page asks for it once per browser session.
"""
from __future__ import annotations

import hmac
import re
import secrets

from flask import Blueprint, current_app, redirect, render_template, session, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from webapp import sources
from webapp.db import db
from webapp.flow import active_study, settings_of
from webapp.security import limiter

bp = Blueprint("recruit", __name__)


class LabStartForm(FlaskForm):
    participant_id = StringField("Participant id", validators=[Length(max=64)])
    submit = SubmitField("Start session")


class LabPasswordForm(FlaskForm):
    password = PasswordField("Lab password", validators=[DataRequired()])
    submit = SubmitField("Unlock")


def _start_rate() -> str:
    return current_app.config["CAMSTUDY_RATE_START"]


@bp.route("/lab", methods=["GET", "POST"])
@limiter.limit(_start_rate, methods=["POST"])
def lab():
    study = active_study(db.session)
    if study is None:
        return render_template("error.html", status=503,
                               message="No study is imported yet: run `camstudy import <study dir>`."), 503
    settings = settings_of(study)
    if "lab" not in settings.recruitment["sources"]:
        return render_template("error.html", status=404, message="Lab sessions are not enabled for this study."), 404
    password = current_app.config.get("CAMSTUDY_LAB_PASSWORD")
    if password and not session.get("lab_unlocked"):
        form = LabPasswordForm()
        if form.validate_on_submit() and hmac.compare_digest(form.password.data.encode(), password.encode()):
            session["lab_unlocked"] = True
            return redirect(url_for("recruit.lab"))
        error = "Wrong password." if form.is_submitted() else None
        return render_template("recruit/lab_password.html", form=form, error=error, s=settings.survey)
    kiosk = settings.recruitment["lab_mode"] == "kiosk"
    form = LabStartForm()
    error = None
    if form.validate_on_submit():
        pid = (form.participant_id.data or "").strip()
        if kiosk:
            pid = "lab-" + secrets.token_hex(6)
        if not pid or not re.fullmatch(settings.recruitment["participant_id_pattern"], pid):
            error = f"Enter a participant id matching {settings.recruitment['participant_id_pattern']}."
        else:
            participant, _created = sources.get("lab").find_or_create(db.session, study, pid)
            session["participant"] = participant.token
            return redirect(url_for("survey.landing", token=participant.token))
    return render_template("recruit/lab.html", form=form, kiosk=kiosk, error=error, s=settings.survey, study=study)

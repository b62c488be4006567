"""Recruitment entry points: ``/lab``, ``/mturk/`` and ``/prolific/``.

``/lab`` lets a researcher start (or resume) a session for a participant id they type,
or, with ``lab_mode = "kiosk"``, start a fresh anonymous participant per click. With
``CAMSTUDY_LAB_PASSWORD`` set the page asks for it once per browser session; without
one it is closed when the study also takes crowd workers or the server runs with
``--prod`` (a typed id would otherwise resume anyone's session).

``/mturk/`` is the ExternalQuestion URL (inside the MTurk worker site's frame): a
preview creates nothing; each (workerId, assignmentId) is its own participant, so a
forged assignment never finds, reveals or blocks another's session; a worker with a
*verified* session under another assignment is refused; the same assignment resumes.
``/prolific/`` takes ``PROLIFIC_PID``, ``STUDY_ID`` (must be the configured one),
``SESSION_ID``. Verification against the platforms: webapp/recruitment/mturk/verify.py, prolific.py.
Both hand over to the participant's own link (``/s/<token>/``), whose token carries the
identity from then on.
"""
from __future__ import annotations

import hmac
import re
import secrets

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from sqlalchemy import select
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from webapp.data.engine import db
from webapp.data.tables import MTurkHIT, Pair, Participant, Study, utcnow
from webapp.recruitment import framing, lab, prolific, sources  # noqa: F401 - lab and prolific register their sources
from webapp.recruitment.mturk import source as mturk_source
from webapp.recruitment.mturk import verify as mturk_verify
from webapp.server.security import limiter
from webapp.settings import crowd_settings
from webapp.survey.navigation import active_study
from webapp.survey.stimulus_urls import stimulus_url
from webapp.survey.study_cache import settings_of

bp = Blueprint("recruit", __name__)
bp.record_once(lambda state: framing.init_app(state.app))


class LabStartForm(FlaskForm):
    participant_id = StringField("Participant id", validators=[Length(max=64)])
    submit = SubmitField("Start session")


class LabPasswordForm(FlaskForm):
    password = PasswordField("Lab password", validators=[DataRequired()])
    submit = SubmitField("Unlock")


def lab_needs_password(settings) -> bool:
    """/lab starts and resumes sessions by a typed id: on a server open to crowd workers or
    in production (``serve --prod``) it is off unless a lab password guards it."""
    crowd = {"mturk", "prolific"} & set(settings.recruitment["sources"])
    return bool(crowd) or bool(current_app.config.get("CAMSTUDY_PROD"))


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
    if not password and lab_needs_password(settings):
        return render_template("error.html", status=403, message=(
            "Lab sessions are closed on this server: it takes part in crowd recruitment or runs in "
            "production, where /lab would hand anyone a session. Set CAMSTUDY_LAB_PASSWORD to open "
            "it to those who know the password.")), 403
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


def _error(status: int, message: str):
    return render_template("error.html", status=status, message=message), status


def _study_for(source: str) -> tuple[Study | None, tuple | None]:
    """The study a crowd link points at (``?study=ID``, else the active one), if it takes this source."""
    wanted = request.args.get("study")
    study = db.session.scalar(select(Study).filter_by(study_id=wanted)) if wanted else active_study(db.session)
    if study is None:
        return None, _error(404, "This study is not available.")
    if source not in settings_of(study).recruitment["sources"]:
        return None, _error(404, "This study is not open to participants from this site.")
    return study, None


def _mturk_preview(study: Study):
    settings = settings_of(study)
    pair = db.session.scalar(
        select(Pair).filter_by(study_pk=study.id).order_by(Pair.is_attention_check.desc(), Pair.id).limit(1))
    example = {"a": stimulus_url(pair.a), "b": stimulus_url(pair.b)} if pair else None
    questions = [settings.survey["questions"][q] for q in study.manifest["questions"]]
    minutes = max(5, round(settings.assignment["pairs_per_participant"] * 0.5 + 3))
    return render_template("recruit/mturk_preview.html", s=settings.survey, example=example,
                           questions=questions, minutes=minutes)


def _recorded_hits(study: Study) -> dict[str, bool]:
    """The study's HITs as `camstudy mturk create` recorded them: HIT id -> sandbox."""
    return dict(db.session.execute(
        select(MTurkHIT.hit_id, MTurkHIT.sandbox).where(MTurkHIT.study_pk == study.id, MTurkHIT.hit_id.is_not(None))
    ).all())


def _took_part(study: Study, worker_id: str, assignment_id: str) -> bool:
    """Whether a *verified* session of this worker exists under another assignment of this
    study, or in a study listed in ``exclude_studies``. Unverified claims never count:
    anyone can type a WorkerId, so they must not lock the real worker out."""
    earlier = mturk_source.excluded_study_ids(study.settings)
    return db.session.scalar(
        select(Participant.id).join(Study, Participant.study_pk == Study.id).where(
            Participant.source == "mturk", Participant.participant_id == worker_id,
            Participant.verification == "verified",
            ((Participant.study_pk == study.id) & (Participant.claim != assignment_id))
            | Study.study_id.in_(earlier or [""])).limit(1)) is not None


def _verdict(study: Study, recorded: dict[str, bool], args: dict[str, str]) -> str | None:
    """MTurk's word on the claim at start (None: not asked, asked before, or no record yet)."""
    if not mturk_verify.enabled():
        return None
    known = db.session.scalar(select(Participant.verification).filter_by(
        study_pk=study.id, source="mturk", participant_id=args["workerId"], claim=args["assignmentId"]))
    if known == "verified":  # a reload of the HIT frame: asked already
        return None
    sandbox = mturk_verify.is_sandbox(recorded.get(args["hitId"]), args["turkSubmitTo"])
    return mturk_verify.check_assignment(sandbox, args["assignmentId"], args["workerId"], args["hitId"])


@bp.get("/mturk/")
@limiter.limit(_start_rate)
def mturk():
    g.participant_source = "mturk"  # framed in the worker site from the first page on
    study, failure = _study_for("mturk")
    if failure:
        return failure
    args = request.args
    assignment_id = args.get("assignmentId", "")
    if assignment_id == mturk_source.PREVIEW:
        return _mturk_preview(study)
    worker_id, hit_id, submit_to = args.get("workerId", ""), args.get("hitId", ""), args.get("turkSubmitTo", "")
    if not all(mturk_source.ID_RE.fullmatch(v) for v in (assignment_id, worker_id, hit_id)):
        return _error(400, "This page opens from a HIT on Mechanical Turk (assignmentId, hitId and workerId are missing).")
    if not mturk_source.allowed_submit_to(submit_to):
        return _error(400, "This HIT link does not come from Mechanical Turk (turkSubmitTo is not a worker site).")
    recorded = _recorded_hits(study)
    if recorded and hit_id not in recorded:
        return _error(404, "This HIT is not one of this study's HITs.")
    if _took_part(study, worker_id, assignment_id):
        return render_template("recruit/mturk_refused.html", s=settings_of(study).survey)
    verdict = _verdict(study, recorded, {"assignmentId": assignment_id, "workerId": worker_id, "hitId": hit_id,
                                         "turkSubmitTo": submit_to})
    if verdict == "rejected":
        return _error(403, "Mechanical Turk's record of this assignment names another worker or HIT.")
    data = {"assignmentId": assignment_id, "hitId": hit_id, "turkSubmitTo": submit_to.rstrip("/")}
    # One participant per (worker, assignment): a claim with another assignmentId is another
    # row, so it neither finds this worker's session (token) nor blocks it.
    participant, _created = sources.get("mturk").find_or_create(db.session, study, worker_id, data,
                                                                claim=assignment_id)
    if participant.verification == "rejected" or (participant.source_data or {}).get("hitId") != hit_id:
        return _error(403, "This assignment belongs to another HIT.")
    if verdict == "verified" and participant.verification != "verified":
        participant.verification, participant.verified_at = "verified", utcnow()
        db.session.commit()
    return redirect(url_for("survey.landing", token=participant.token))


@bp.get("/prolific/")
@limiter.limit(_start_rate)
def prolific_entry():
    study, failure = _study_for("prolific")
    if failure:
        return failure
    pid, study_id, session_id = (request.args.get(k, "") for k in ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"))
    if not all(mturk_source.ID_RE.fullmatch(v) for v in (pid, study_id, session_id)):
        return _error(400, "This page opens from Prolific (PROLIFIC_PID, STUDY_ID and SESSION_ID are missing).")
    expected = crowd_settings(study.settings, "prolific")["study_id"]
    if not expected:  # imported before the study id was required: accept no one rather than anyone
        return _error(503, "This study's Prolific study id is not configured ([prolific] study_id).")
    if study_id != expected:
        return _error(404, "This link belongs to another Prolific study.")
    verdict = prolific.check_submission(session_id, pid, study_id)
    if verdict == "rejected":
        return _error(403, "Prolific's record of this session names another participant or study.")
    # One participant per (PROLIFIC_PID, SESSION_ID): another session id is another row.
    participant, _created = sources.get("prolific").find_or_create(
        db.session, study, pid, {"STUDY_ID": study_id, "SESSION_ID": session_id}, claim=session_id)
    if participant.verification == "rejected":
        return _error(403, "Prolific's record of this session names another participant or study.")
    if verdict == "verified" and participant.verification != "verified":
        participant.verification, participant.verified_at = "verified", utcnow()
        db.session.commit()
    session.permanent = True
    session["participant"] = participant.token
    return redirect(url_for("survey.landing", token=participant.token))

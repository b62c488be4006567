"""Participant pages: landing, consent, instructions, trials, questionnaire, completion.

Server-rendered; ``static/survey.js`` posts each trial's answers to the JSON API.
Identity is the participant token in the URL, mirrored in the signed session cookie so
that opening the site again resumes the same participant.
"""
from __future__ import annotations

import hashlib
import os
import time
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, RadioField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from webapp.data.engine import db
from webapp.data.tables import Participant, Stimulus, Study, utcnow
from webapp.recruitment import sources
from webapp.survey import examples
from webapp.survey.answers import mark_served
from webapp.survey.assignment import StudyFull, allocate
from webapp.survey.navigation import active_study, next_url, participant_or_404, participant_trials, trial_view
from webapp.survey.stimulus_bytes import UnreadableImage, layout_free_png
from webapp.survey.study_cache import settings_of, study_info

bp = Blueprint("survey", __name__)


class ConsentForm(FlaskForm):
    agree = BooleanField("I agree to take part in this study", validators=[DataRequired("Please tick the box to agree.")])
    submit = SubmitField("Start")


class DeclineForm(FlaskForm):
    decline = SubmitField("No thanks, I do not want to take part")


class ContinueForm(FlaskForm):
    submit = SubmitField("Continue")


def _choices(pairs: list[tuple[str, str]]) -> list:
    try:  # WTForms >= 3.3 deprecates tuples
        from wtforms.fields.choices import SelectChoice
    except ImportError:  # pragma: no cover - older WTForms
        return pairs
    return [SelectChoice(v, label) for v, label in pairs]


class QuestionnaireForm(FlaskForm):
    familiarity = RadioField(
        "How familiar are you with heat maps that explain computer vision models?",
        choices=_choices([("none", "Not at all"), ("some", "Somewhat"), ("expert", "Very familiar")]),
        validators=[Optional()],
    )
    comments = TextAreaField("Any comments? (optional)", validators=[Optional(), Length(max=1000)])
    submit = SubmitField("Finish")


def remember(participant: Participant) -> None:
    session.permanent = True
    session["participant"] = participant.token


@bp.get("/")
def index():
    token = session.get("participant")
    if token:
        participant = db.session.scalar(select(Participant).filter_by(token=token))
        if participant is not None and participant.completed_at is None:
            return redirect(next_url(db.session, participant))
    study = active_study(db.session)
    title = settings_of(study).survey["title"] if study else "Survey"
    return render_template("survey/welcome.html", title=title, study=study)


@bp.get("/s/<token>/")
def landing(token: str):
    participant = participant_or_404(token)
    remember(participant)
    if participant.consented_at is not None or participant.declined_at is not None:
        return redirect(next_url(db.session, participant))
    return render_template("survey/landing.html", p=participant, s=study_info(db.session, participant.study_pk).settings.survey)


@bp.route("/s/<token>/consent", methods=["GET", "POST"])
def consent(token: str):
    participant = participant_or_404(token)
    remember(participant)
    settings = study_info(db.session, participant.study_pk).settings
    form = ConsentForm()
    if participant.allocated_at is not None or participant.declined_at is not None:
        return redirect(next_url(db.session, participant))
    if form.validate_on_submit():
        if participant.consented_at is None:
            participant.consented_at = utcnow()
            db.session.commit()
        try:
            allocate(db.session, participant, settings)
        except StudyFull:
            return render_template("survey/full.html", s=settings.survey), 200
        return redirect(next_url(db.session, participant))
    return render_template("survey/consent.html", p=participant, s=settings.survey, form=form,
                           decline_form=DeclineForm())


@bp.post("/s/<token>/decline")
def decline(token: str):
    """Record that the participant declined. Consent comes before allocation, so they have
    no trials and no answers: the row marked declined is all that is kept."""
    participant = participant_or_404(token)
    if participant.consented_at is None and participant.declined_at is None and DeclineForm().validate_on_submit():
        participant.declined_at = utcnow()
        db.session.commit()
    return redirect(next_url(db.session, participant))


@bp.get("/s/<token>/declined")
def declined(token: str):
    participant = participant_or_404(token)
    if participant.declined_at is None:
        return redirect(next_url(db.session, participant))
    settings = study_info(db.session, participant.study_pk).settings
    return render_template("survey/declined.html", p=participant, s=settings.survey)


@bp.route("/s/<token>/instructions", methods=["GET", "POST"])
def instructions(token: str):
    participant = participant_or_404(token)
    if participant.allocated_at is None or participant.instructed_at is not None:
        return redirect(next_url(db.session, participant))
    settings = study_info(db.session, participant.study_pk).settings
    form = ContinueForm()
    if form.validate_on_submit():
        participant.instructed_at = utcnow()
        db.session.commit()
        return redirect(next_url(db.session, participant))
    info = study_info(db.session, participant.study_pk)
    return render_template("survey/instructions.html", p=participant, s=settings.survey, form=form,
                           teach=teaching(info))


def teaching(info) -> dict:
    """The instructions' illustrations, definitions and practice rounds, in the study's
    colormap. Drawn examples only: no study pair is shown before the trials."""
    survey = info.settings.survey
    texts = survey["questions"]

    def url(name: str) -> str:
        return examples.image_url(name, info.colormap, info.alpha)

    definitions = [
        {"id": q, "question": texts[q], "text": survey["definitions"][q],
         "illustration": ({"left": url(ill.left), "right": url(ill.right), "left_caption": ill.left_caption,
                           "right_caption": ill.right_caption} if (ill := examples.ILLUSTRATIONS.get(q)) else None)}
        for q in info.questions if q in survey["definitions"]]
    practice = []
    for a, b, answers in examples.PRACTICE[:survey["practice_examples"]]:
        asked = [{"id": q, "text": texts[q], "answer": answers[q]} for q in info.questions if q in answers]
        if asked:
            practice.append({"a": url(a), "b": url(b), "questions": asked})
    return {
        "show": survey["examples"], "scale": url("scale"), "scene": url("scene") if info.show_original else None,
        "layout": {"a": url("layout-a"), "b": url("layout-b")}, "definitions": definitions,
        "practice": practice, "options": list(info.options), "questions": [texts[q] for q in info.questions],
        "definition_of": {d["id"]: d["text"] for d in definitions},
    }


@bp.get("/s/<token>/trial/<int(signed=True, max=100000):index>")
def trial(token: str, index: int):
    participant = participant_or_404(token)
    remember(participant)
    trials = participant_trials(db.session, participant)
    target = next_url(db.session, participant, trials)
    here = url_for("survey.trial", token=token, index=index)
    if target != here:  # answered already, or not reached yet: go to the right place
        return redirect(target)
    t = next(t for t in trials if t.trial_index == index)
    mark_served(db.session, trials, t)
    view = trial_view(db.session, participant, t, trials)
    return render_template("survey/trial.html", p=participant, s=study_info(db.session, participant.study_pk).settings.survey, t=view)


@bp.route("/s/<token>/questionnaire", methods=["GET", "POST"])
def questionnaire(token: str):
    participant = participant_or_404(token)
    if next_url(db.session, participant) != url_for("survey.questionnaire", token=token):
        return redirect(next_url(db.session, participant))
    form = QuestionnaireForm()
    if form.validate_on_submit():
        participant.questionnaire = {"familiarity": form.familiarity.data, "comments": form.comments.data or ""}
        db.session.commit()
        return redirect(next_url(db.session, participant))
    return render_template("survey/questionnaire.html", p=participant, s=study_info(db.session, participant.study_pk).settings.survey, form=form)


@bp.get("/s/<token>/done")
def done(token: str):
    participant = participant_or_404(token)
    if next_url(db.session, participant) != url_for("survey.done", token=token):
        return redirect(next_url(db.session, participant))
    if participant.completed_at is None:
        participant.completed_at = utcnow()
        db.session.commit()
    extra = sources.get(participant.source).completion_context(participant)
    return render_template("survey/done.html", p=participant, s=study_info(db.session, participant.study_pk).settings.survey, **extra)


# --------------------------------------------------------------------------- stimuli


class StimulusChanged(Exception):
    """The file's bytes are no longer those whose sha256 was checked at import."""


@lru_cache(maxsize=64)
def _rewritten(path: str, sha256: str, version: tuple[int, int, int]) -> bytes:
    """The file re-written as a layout-free PNG (webapp/survey/stimulus_bytes.py): nothing but the
    pixels reaches the participant, whatever the file on disk holds. A file whose bytes
    are no longer those checked at import is refused (raised, not cached: a restored
    file is served again)."""
    data = Path(path).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise StimulusChanged(path)
    return layout_free_png(data)


_AS_IS: dict[tuple, bool] = {}  # (path, sha256, inode, size, mtime) -> the file is layout-free already


def _stimulus_bytes(path: str, sha256: str) -> bytes:
    """What a participant gets for the file at ``path``. The generator writes stimuli
    layout-free already: such a file, checked once per process and version of the file
    (inode, size, modification time) to hold the bytes checked at import and to be
    layout-free, is served as it is, a plain read like a static file's; any other file is
    re-written (and the last 64 cached). A changed file raises StimulusChanged."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        version = (st.st_ino, st.st_size, st.st_mtime_ns)
        as_is = _AS_IS.get((path, sha256, *version))
        if as_is is None:
            data = f.read()
            if hashlib.sha256(data).hexdigest() != sha256:
                raise StimulusChanged(path)  # not remembered: a restored file is served again
            as_is = layout_free_png(data) == data
            if len(_AS_IS) > 100_000:  # many studies over a long-lived process
                _AS_IS.clear()
            _AS_IS[(path, sha256, *version)] = as_is
            if as_is:
                return data
        elif as_is:
            return f.read()
    return _rewritten(path, sha256, version)


STIMULI_RECHECK_S = 2.0


def _stimulus_index() -> dict[str, tuple[str, str, str | None]]:
    """name -> (file path, sha256, url) over every imported study, cached per process as
    ``(studies, index, checked at)``.

    Keyed by the studies' (pk, manifest_sha256, study_dir): one small query tells whether
    a study was imported, replaced, moved or deleted since."""
    studies = tuple(tuple(r) for r in db.session.execute(
        select(Study.id, Study.manifest_sha256, Study.study_dir).order_by(Study.id)))
    cached = current_app.extensions.get("camstudy_stimuli")
    if cached is not None and cached[0] == studies:
        index = cached[1]
    else:
        dirs = {pk: study_dir for pk, _, study_dir in studies}
        index = {}
        for name, file, sha, url, study_pk in db.session.execute(
            select(Stimulus.name, Stimulus.file, Stimulus.sha256, Stimulus.url, Stimulus.study_pk).order_by(Stimulus.id)
        ):
            if study_pk in dirs:
                index.setdefault(name, (str(Path(dirs[study_pk]) / file), sha, url))
    current_app.extensions["camstudy_stimuli"] = (studies, index, time.monotonic())
    return index


def _find_stimulus(name: str) -> tuple[str, str, str | None] | None:
    """A stimulus by name. Images are a third of a participant's requests: a name found
    in an index checked against the database in the last STIMULI_RECHECK_S seconds is
    served without a query (names are content hashes, so a hit is never a wrong image;
    a study deleted or moved stops being served within that time); a miss always checks."""
    cached = current_app.extensions.get("camstudy_stimuli")
    if cached is not None and time.monotonic() - cached[2] < STIMULI_RECHECK_S:
        found = cached[1].get(name)
        if found is not None:
            return found
    return _stimulus_index().get(name)


@bp.get("/stimuli/<name>.png")
def stimulus(name: str):
    found = _find_stimulus(name)
    if found is None or found[2]:
        abort(404, "No such image.")
    path, sha256, _url = found
    if not os.path.isfile(path):
        abort(404, "No such image.")
    try:
        body = _stimulus_bytes(path, sha256)
    except StimulusChanged:
        current_app.logger.error("stimulus %s (%s) changed on disk since import: not served", name, path)
        abort(404, "No such image.")
    except UnreadableImage:
        current_app.logger.error("stimulus %s (%s) does not decode as an image", name, path)
        abort(404, "No such image.")
    resp = Response(body, mimetype="image/png")
    resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    resp.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    resp.set_etag(name)
    return resp.make_conditional(request)  # If-None-Match: 304 without the body

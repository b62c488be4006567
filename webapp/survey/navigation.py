"""The participant's path through the survey, shared by the pages and the JSON API.

Where a participant stands is always derived from the database (consent, instructions,
first unanswered trial, questionnaire, completion), so a reload, the back button or a
reopened link lands on the right step. ``trial_view`` is what a client needs to show
one trial.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask import abort, current_app, g, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from webapp.data.engine import db
from webapp.data.tables import Participant, Study, Trial, utcnow
from webapp.survey.stimulus_urls import stimulus_url
from webapp.survey.study_cache import StudyInfo, study_info

KEY_RE = re.compile(r"[A-Za-z0-9_\-]{8,64}")
MIN_INDEX = -100  # practice trials are the only negative indices (at most 5)


def participant_trials(session: Session, participant: Participant) -> list[Trial]:
    """All of the participant's trials in order (one query; where they stand follows from it)."""
    return list(session.scalars(
        select(Trial).where(Trial.participant_pk == participant.id).order_by(Trial.trial_index)))


def first_open(trials: list[Trial]) -> Trial | None:
    return next((t for t in trials if t.answered_at is None), None)


def active_study(session: Session) -> Study | None:
    """The study new participants join: CAMSTUDY_STUDY, else the latest imported."""
    wanted = current_app.config.get("CAMSTUDY_STUDY")
    lazy_manifest = defer(Study.manifest)  # large; loaded on first access, if any
    if wanted:
        return session.scalar(select(Study).filter_by(study_id=wanted).options(lazy_manifest))
    return session.scalar(select(Study).order_by(Study.imported_at.desc(), Study.id.desc()).limit(1).options(lazy_manifest))


def participant_or_404(token: str) -> Participant:
    if not KEY_RE.fullmatch(token or ""):
        abort(404, "This survey link is not valid. Check that you copied the whole link.")
    session = db.session
    participant = session.scalar(select(Participant).filter_by(token=token))
    if participant is None:
        abort(404, "This survey link is not valid. Check that you copied the whole link.")
    g.participant_source = participant.source  # security headers ask the source (frame-ancestors)
    now = utcnow()
    if now - participant.last_seen_at > timedelta(seconds=30):  # keeps the allocation alive
        participant.last_seen_at = now
        session.commit()
    return participant


def first_unanswered(session: Session, participant: Participant) -> Trial | None:
    return session.scalar(
        select(Trial)
        .filter_by(participant_pk=participant.id, answered_at=None)
        .order_by(Trial.trial_index)
        .limit(1)
    )


def next_url(session: Session, participant: Participant, trials: list[Trial] | None = None) -> str:
    """Where this participant should be now (``trials``: their trials, if already loaded)."""
    token = participant.token
    if participant.declined_at is not None:
        return url_for("survey.declined", token=token)
    if participant.consented_at is None:
        return url_for("survey.consent", token=token)
    if participant.instructed_at is None:
        return url_for("survey.instructions", token=token)
    if participant.allocated_at is None:
        return url_for("survey.consent", token=token)
    trial = first_unanswered(session, participant) if trials is None else first_open(trials)
    if trial is not None:
        return url_for("survey.trial", token=token, index=trial.trial_index)
    if participant.questionnaire is None and study_info(session, participant.study_pk).settings.survey["questionnaire"]:
        return url_for("survey.questionnaire", token=token)
    return url_for("survey.done", token=token)


def trial_images(trial: Trial, show_original: bool, info: StudyInfo | None = None) -> dict[str, str | None]:
    pair = info.pairs.get(trial.pair_pk) if info is not None else None
    if pair is None:
        pair = trial.pair
        storage = pair.study.manifest.get("storage")
    else:
        storage = info.storage
    left, right = (pair.b, pair.a) if trial.swapped else (pair.a, pair.b)
    return {
        "original": stimulus_url(pair.original, storage) if show_original else None,
        "a": stimulus_url(left, storage),
        "b": stimulus_url(right, storage),
    }


def counts(session: Session, participant: Participant) -> tuple[int, int]:
    """(answered real trials, real trials) for the progress bar."""
    total, answered = session.execute(
        select(func.count(Trial.id), func.count(Trial.answered_at)).where(
            Trial.participant_pk == participant.id, Trial.is_practice.is_(False)
        )
    ).one()
    return answered, total


def trial_view(session: Session, participant: Participant, trial: Trial,
               trials: list[Trial] | None = None) -> dict[str, Any]:
    """Everything a client needs to show one trial; nothing that names a method."""
    info = study_info(session, participant.study_pk)
    texts = info.settings.survey["questions"]
    if trials is None:
        trials = participant_trials(session, participant)
    real = [t for t in trials if not t.is_practice]
    answered, total = sum(t.answered_at is not None for t in real), len(real)
    following = next((t for t in trials if t.trial_index > trial.trial_index), None)
    return {
        "trial_index": trial.trial_index,
        "is_practice": trial.is_practice,
        "is_last": following is None,
        "images": trial_images(trial, info.show_original, info),
        "questions": [{"id": q, "text": texts[q]} for q in info.questions],
        "options": list(info.options),
        "progress": {"answered": answered, "total": total},
        "answered": trial.answered_at is not None,
        "preload": [u for u in trial_images(following, info.show_original, info).values() if u] if following else [],
        "answer_url": url_for("api.answer", token=participant.token, index=trial.trial_index),
    }

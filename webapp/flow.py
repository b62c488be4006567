"""The participant's path through the survey, shared by the pages and the JSON API.

Where a participant stands is always derived from the database (consent, instructions,
first unanswered trial, questionnaire, completion), so a reload, the back button or a
reopened link lands on the right step.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask import abort, current_app, g, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.db import Participant, Response, Study, Stimulus, Trial, db, utcnow
from webapp.settings import Settings

KEY_RE = re.compile(r"[A-Za-z0-9_\-]{8,64}")
MAX_RT_MS = 24 * 3600 * 1000
MIN_INDEX = -100  # practice trials are the only negative indices (at most 5)


class AnswerError(Exception):
    """An answer POST that cannot be stored; ``status`` is the HTTP status to send."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def settings_of(study: Study) -> Settings:
    return Settings.from_dict(study.settings)


def active_study(session: Session) -> Study | None:
    """The study new participants join: CAMSTUDY_STUDY, else the latest imported."""
    wanted = current_app.config.get("CAMSTUDY_STUDY")
    if wanted:
        return session.scalar(select(Study).filter_by(study_id=wanted))
    return session.scalar(select(Study).order_by(Study.imported_at.desc(), Study.id.desc()).limit(1))


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


def next_url(session: Session, participant: Participant) -> str:
    """Where this participant should be now."""
    token = participant.token
    if participant.consented_at is None:
        return url_for("survey.consent", token=token)
    if participant.instructed_at is None:
        return url_for("survey.instructions", token=token)
    if participant.allocated_at is None:
        return url_for("survey.consent", token=token)
    trial = first_unanswered(session, participant)
    if trial is not None:
        return url_for("survey.trial", token=token, index=trial.trial_index)
    if participant.questionnaire is None and settings_of(participant.study).survey["questionnaire"]:
        return url_for("survey.questionnaire", token=token)
    return url_for("survey.done", token=token)


def stimulus_url(stimulus: Stimulus | None, storage: dict[str, Any] | None = None) -> str | None:
    if stimulus is None:
        return None
    if stimulus.url and stimulus.url.startswith("s3://"):
        from webapp.stimulus_urls import presigned

        return presigned(stimulus.url, storage)
    return stimulus.url or url_for("survey.stimulus", name=stimulus.name)


def trial_images(trial: Trial, show_original: bool) -> dict[str, str | None]:
    pair = trial.pair
    storage = pair.study.manifest.get("storage")
    left, right = (pair.b, pair.a) if trial.swapped else (pair.a, pair.b)
    return {
        "original": stimulus_url(pair.original, storage) if show_original else None,
        "a": stimulus_url(left, storage),
        "b": stimulus_url(right, storage),
    }


def show_original(study: Study, settings: Settings) -> bool:
    value = settings.survey["show_original"]
    if value is None:
        value = (study.manifest.get("render") or {}).get("show_original", True)
    return bool(value)


def counts(session: Session, participant: Participant) -> tuple[int, int]:
    """(answered real trials, real trials) for the progress bar."""
    total, answered = session.execute(
        select(func.count(Trial.id), func.count(Trial.answered_at)).where(
            Trial.participant_pk == participant.id, Trial.is_practice.is_(False)
        )
    ).one()
    return answered, total


def trial_view(session: Session, participant: Participant, trial: Trial) -> dict[str, Any]:
    """Everything a client needs to show one trial; nothing that names a method."""
    study = participant.study
    settings = settings_of(study)
    original = show_original(study, settings)
    texts = settings.survey["questions"]
    options = ["A", "B"] + (["same"] if settings.survey["allow_same"] else [])
    answered, total = counts(session, participant)
    following = session.scalar(
        select(Trial)
        .where(Trial.participant_pk == participant.id, Trial.trial_index > trial.trial_index)
        .order_by(Trial.trial_index)
        .limit(1)
    )
    return {
        "trial_index": trial.trial_index,
        "is_practice": trial.is_practice,
        "is_last": following is None,
        "images": trial_images(trial, original),
        "questions": [{"id": q, "text": texts[q]} for q in study.manifest["questions"]],
        "options": options,
        "progress": {"answered": answered, "total": total},
        "answered": trial.answered_at is not None,
        "preload": [u for u in trial_images(following, original).values() if u] if following else [],
        "answer_url": url_for("api.answer", token=participant.token, index=trial.trial_index),
    }


def _parse_answers(body: Any, questions: list[str], options: list[str]) -> tuple[str, dict[str, tuple[str, int]]]:
    if not isinstance(body, dict):
        raise AnswerError(400, "The body must be a JSON object.")
    unknown = set(body) - {"idempotency_key", "answers"}
    if unknown:
        raise AnswerError(400, f"Unknown field(s): {', '.join(sorted(unknown))}.")
    key = body.get("idempotency_key")
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        raise AnswerError(400, "idempotency_key must be 8-64 characters of A-Z, a-z, 0-9, '-' or '_'.")
    answers = body.get("answers")
    if not isinstance(answers, list) or len(answers) > len(questions):
        raise AnswerError(400, f"answers must be a list with one entry per question ({len(questions)}).")
    parsed: dict[str, tuple[str, int]] = {}
    for a in answers:
        if not isinstance(a, dict) or set(a) != {"question_id", "side", "rt_ms"}:
            raise AnswerError(400, "Each answer must be {\"question_id\", \"side\", \"rt_ms\"} and nothing else.")
        q, side, rt = a["question_id"], a["side"], a["rt_ms"]
        if q not in questions:
            raise AnswerError(400, f"question_id must be one of: {', '.join(questions)}.")
        if q in parsed:
            raise AnswerError(400, f"Question {q!r} is answered twice.")
        if side not in options:
            raise AnswerError(400, f"side must be one of: {', '.join(options)}.")
        if not isinstance(rt, int) or isinstance(rt, bool) or not 0 <= rt <= MAX_RT_MS:
            raise AnswerError(400, f"rt_ms must be an integer from 0 to {MAX_RT_MS}.")
        parsed[q] = (side, rt)
    missing = [q for q in questions if q not in parsed]
    if missing:
        raise AnswerError(400, f"Every question needs an answer; missing: {', '.join(missing)}.")
    return key, parsed


def save_answers(session: Session, participant: Participant, index: int, body: Any) -> tuple[bool, str]:
    """Store one trial's answers exactly once. Returns (created, url of the next step).

    A retry with the same idempotency key (or the same answers) is acknowledged again
    without a new row; different answers to an answered trial, or answers to a trial
    ahead of the participant's place, are refused.
    """
    study = participant.study
    settings = settings_of(study)
    questions = list(study.manifest["questions"])
    options = ["A", "B"] + (["same"] if settings.survey["allow_same"] else [])
    key, parsed = _parse_answers(body, questions, options)
    if index < MIN_INDEX:
        raise AnswerError(404, f"Trial {index} is not part of this participant's survey.")
    trial = session.scalar(select(Trial).filter_by(participant_pk=participant.id, trial_index=index))
    if trial is None:
        raise AnswerError(404, f"Trial {index} is not part of this participant's survey.")
    if trial.answered_at is not None:
        return _replay(session, participant, trial, key, parsed)
    current = first_unanswered(session, participant)
    if current is not None and current.trial_index != index:
        session.refresh(trial)  # a concurrent retry may have answered it since we looked
        if trial.answered_at is not None:
            return _replay(session, participant, trial, key, parsed)
        raise AnswerError(409, f"Trial {current.trial_index} comes first; answers must follow the survey's order.")
    now = utcnow()
    expected = trial.pair.expected or {}
    for q in questions:
        side, rt = parsed[q]
        if trial.is_attention_check:
            method, correct = None, (side == expected[q]) if q in expected else None
        else:
            method = {"A": trial.left_method, "B": trial.right_method}.get(side, "same")
            correct = None
        session.add(Response(
            participant_pk=participant.id, trial_pk=trial.id, question_id=q, response_side=side,
            response_method=method, attention_correct=correct, rt_ms=rt, idempotency_key=key,
            answered_at=now,
        ))
    trial.answered_at = now
    try:
        session.commit()
    except IntegrityError:  # a concurrent retry of the same POST won the race
        session.rollback()
        session.refresh(trial)
        return _replay(session, participant, trial, key, parsed)
    return True, next_url(session, participant)


def _replay(session: Session, participant: Participant, trial: Trial, key: str,
            parsed: dict[str, tuple[str, int]]) -> tuple[bool, str]:
    stored = {r.question_id: r for r in trial.responses}
    same_answers = all(stored.get(q) and stored[q].response_side == side for q, (side, _) in parsed.items())
    if same_answers:  # a retry, a double click, a reload while the POST was in flight
        return False, next_url(session, participant)
    raise AnswerError(409, f"Trial {trial.trial_index} is already answered; answers cannot be changed.")

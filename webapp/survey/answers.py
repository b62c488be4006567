"""Saving a trial's answers exactly once (idempotent retries, the survey's order) and
the server-side clock of each trial (served_at, server_ms).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from webapp.data.tables import Participant, Response, Trial, utcnow
from webapp.survey.navigation import KEY_RE, MIN_INDEX, first_open, next_url, participant_trials, trial_view
from webapp.survey.study_cache import study_info

MAX_RT_MS = 24 * 3600 * 1000


class AnswerError(Exception):
    """An answer POST that cannot be stored; ``status`` is the HTTP status to send."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------- server-side timing


def server_time(trial: Trial, answered: datetime) -> tuple[datetime, int]:
    """(served_at, server_ms) for an answer arriving now: milliseconds since the server
    first served the trial; an answer to a trial never served counts as 0 ms."""
    served = trial.served_at or answered
    return served, max(0, round((answered - served).total_seconds() * 1000))


def _serve(conn: Any, trial: Trial, now: datetime) -> None:
    t = Trial.__table__
    conn.execute(update(t).where(t.c.id == trial.id, t.c.served_at.is_(None)).values(served_at=now))


def mark_served(session: Session, trials: list[Trial], trial: Trial) -> None:
    """Start the trial's server-side clock the first time it is served as the current
    trial (only the first unanswered one: fetching trials ahead starts nothing)."""
    if trial.served_at is not None or first_open(trials) is not trial:
        return
    now = utcnow()
    _serve(session.connection(), trial, now)
    session.commit()
    set_committed_value(trial, "served_at", now)


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


@dataclass(frozen=True)
class Saved:
    """What an answer POST did: ``created`` (False: a retry, nothing new stored), where
    the participant goes next, and that next trial's view when the next step is a trial
    (the survey page shows it in place, without loading a new page)."""

    created: bool
    next_url: str
    next_trial: dict[str, Any] | None = None


def save_answers(session: Session, participant: Participant, index: int, body: Any) -> Saved:
    """Store one trial's answers exactly once.

    A retry with the same idempotency key (or the same answers) is acknowledged again
    without a new row; different answers to an answered trial, or answers to a trial
    ahead of the participant's place, are refused.
    """
    info = study_info(session, participant.study_pk)
    questions = list(info.questions)
    key, parsed = _parse_answers(body, questions, list(info.options))
    if index < MIN_INDEX:
        raise AnswerError(404, f"Trial {index} is not part of this participant's survey.")
    trials = participant_trials(session, participant)
    trial = next((t for t in trials if t.trial_index == index), None)
    if trial is None:
        raise AnswerError(404, f"Trial {index} is not part of this participant's survey.")
    if trial.answered_at is not None:
        return _replay(session, participant, trial, key, parsed)
    current = first_open(trials)
    if current is not None and current.trial_index != index:
        session.refresh(trial)  # a concurrent retry may have answered it since we looked
        if trial.answered_at is not None:
            return _replay(session, participant, trial, key, parsed)
        raise AnswerError(409, f"Trial {current.trial_index} comes first; answers must follow the survey's order.")
    now = utcnow()
    pair = info.pairs.get(trial.pair_pk)
    expected = (pair.expected if pair is not None else trial.pair.expected) or {}
    rows = []
    for q in questions:
        side, rt = parsed[q]
        if trial.is_attention_check:
            method, correct = None, (side == expected[q]) if q in expected else None
        else:
            method = {"A": trial.left_method, "B": trial.right_method}.get(side, "same")
            correct = None
        rows.append({
            "participant_pk": participant.id, "trial_pk": trial.id, "question_id": q, "response_side": side,
            "response_method": method, "attention_correct": correct, "rt_ms": rt, "idempotency_key": key,
            "answered_at": now,
        })
    # Two plain statements, no unit of work: the UPDATE claims the trial (only while it
    # is unanswered, so of two concurrent first tries one gets rowcount 0) and the
    # INSERT's unique key (trial, question) is the second guard.
    trials_t, responses_t = Trial.__table__, Response.__table__
    served, server_ms = server_time(trial, now)
    following = next((t for t in trials if t.trial_index > index and t.answered_at is None), None)
    try:
        conn = session.connection()
        claimed = conn.execute(update(trials_t).where(trials_t.c.id == trial.id, trials_t.c.answered_at.is_(None))
                               .values(answered_at=now, served_at=served, server_ms=server_ms)).rowcount
        if claimed == 1:
            conn.execute(insert(responses_t), rows)
            if following is not None:  # the reply shows it: its server-side clock starts now
                _serve(conn, following, now)
            session.commit()
    except IntegrityError:
        claimed = 0
    if claimed != 1:  # a concurrent retry of the same POST won the race
        session.rollback()
        session.refresh(trial)
        return _replay(session, participant, trial, key, parsed)
    set_committed_value(trial, "answered_at", now)
    if following is not None and following.served_at is None:
        set_committed_value(following, "served_at", now)
    return _saved(session, participant, True, trials)


def _saved(session: Session, participant: Participant, created: bool, trials: list[Trial] | None = None) -> Saved:
    if trials is None:
        trials = participant_trials(session, participant)
    following = first_open(trials)
    url = next_url(session, participant, trials)
    view = trial_view(session, participant, following, trials) if following is not None else None
    return Saved(created, url, view)


def _replay(session: Session, participant: Participant, trial: Trial, key: str,
            parsed: dict[str, tuple[str, int]]) -> Saved:
    stored = {r.question_id: r for r in trial.responses}
    same_answers = all(stored.get(q) and stored[q].response_side == side for q, (side, _) in parsed.items())
    if same_answers:  # a retry, a double click, a reload while the POST was in flight
        return _saved(session, participant, False)
    raise AnswerError(409, f"Trial {trial.trial_index} is already answered; answers cannot be changed.")

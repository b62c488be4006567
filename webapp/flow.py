"""The participant's path through the survey, shared by the pages and the JSON API.

Where a participant stands is always derived from the database (consent, instructions,
first unanswered trial, questionnaire, completion), so a reload, the back button or a
reopened link lands on the right step.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import abort, current_app, g, url_for
from sqlalchemy import Text, cast, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import set_committed_value

from webapp.db import Pair, Participant, Response, Study, Stimulus, Trial, db, utcnow
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


# --------------------------------------------------------------------------- per-process caches
#
# Parsing the study's settings and reading its manifest (a large JSON column) on every
# request cost more than the rest of a request. Both are cached per app (so per worker
# process): settings by their content, manifest-derived data (questions, storage, the
# pairs' stimuli and expected answers) by (study pk, manifest_sha256), which a re-import
# with a changed manifest always changes. A re-import that only edits study.toml changes
# the stored settings, hence the key: the next request sees it. Nothing here is state
# that other processes need: every entry is derived from the database.

_cache_lock = threading.Lock()
MAX_CACHED = 64


@dataclass(frozen=True)
class StimulusRef:
    name: str
    url: str | None


@dataclass(frozen=True)
class PairRef:
    original: StimulusRef | None
    a: StimulusRef
    b: StimulusRef
    expected: dict[str, Any] | None


@dataclass(frozen=True)
class StudyInfo:
    """What the participant pages need from a study, without loading its manifest."""

    pk: int
    settings: Settings
    questions: tuple[str, ...]
    storage: dict[str, Any] | None
    show_original: bool
    options: tuple[str, ...]
    pairs: dict[int, PairRef]
    colormap: str = "jet"  # the manifest's render settings: the instructions' illustrations match them
    alpha: float = 0.5


def _caches() -> dict[str, dict]:
    return current_app.extensions.setdefault("camstudy_cache", {"settings": {}, "static": {}})


def _remember(cache: dict, key: Any, value: Any) -> Any:
    with _cache_lock:
        if len(cache) >= MAX_CACHED:
            cache.clear()
        cache[key] = value
    return value


def parsed_settings(raw: dict[str, Any] | str) -> Settings:
    """``Settings.from_dict(raw)``, parsed once per process for each distinct content
    (``raw``: the stored settings, or their JSON text as the database returns it)."""
    cache = _caches()["settings"]
    key = raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    hit = cache.get(key)
    if hit is None:
        hit = _remember(cache, key, Settings.from_dict(json.loads(raw) if isinstance(raw, str) else raw))
    return hit


def settings_of(study: Study) -> Settings:
    return parsed_settings(study.settings)


def _study_static(session: Session, pk: int, sha: str) -> dict[str, Any]:
    cache = _caches()["static"]
    hit = cache.get((pk, sha))
    if hit is not None:
        return hit
    manifest = session.scalar(select(Study.manifest).where(Study.id == pk)) or {}
    stimuli = {sid: StimulusRef(name, url) for sid, name, url in session.execute(
        select(Stimulus.id, Stimulus.name, Stimulus.url).where(Stimulus.study_pk == pk))}
    pairs = {pid: PairRef(stimuli.get(o) if o is not None else None, stimuli[a], stimuli[b], expected)
             for pid, o, a, b, expected in session.execute(
                 select(Pair.id, Pair.original_pk, Pair.a_pk, Pair.b_pk, Pair.expected).where(Pair.study_pk == pk))}
    static = {
        "questions": tuple(manifest.get("questions") or ()),
        "storage": manifest.get("storage"),
        "render_show_original": (manifest.get("render") or {}).get("show_original", True),
        "colormap": (manifest.get("render") or {}).get("colormap", "jet"),
        "alpha": float((manifest.get("render") or {}).get("alpha", 0.5)),
        "pairs": pairs,
    }
    return _remember(cache, (pk, sha), static)


def study_info(session: Session, study_pk: int) -> StudyInfo:
    """The study's cached settings and manifest data (one small query per request)."""
    memo = g.setdefault("camstudy_study_info", {})
    info = memo.get(study_pk)
    if info is not None:
        return info
    sha, raw = session.execute(  # the settings as text: the cache key, decoded only on a miss
        select(Study.manifest_sha256, cast(Study.settings, Text)).where(Study.id == study_pk)).one()
    settings = parsed_settings(raw)
    static = _study_static(session, study_pk, sha)
    value = settings.survey["show_original"]
    info = StudyInfo(
        pk=study_pk, settings=settings, questions=static["questions"], storage=static["storage"],
        show_original=bool(static["render_show_original"] if value is None else value),
        options=("A", "B") + (("same",) if settings.survey["allow_same"] else ()),
        pairs=static["pairs"], colormap=static["colormap"], alpha=static["alpha"],
    )
    memo[study_pk] = info
    return info


def participant_trials(session: Session, participant: Participant) -> list[Trial]:
    """All of the participant's trials in order (one query; where they stand follows from it)."""
    return list(session.scalars(
        select(Trial).where(Trial.participant_pk == participant.id).order_by(Trial.trial_index)))


def _first_open(trials: list[Trial]) -> Trial | None:
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
    trial = first_unanswered(session, participant) if trials is None else _first_open(trials)
    if trial is not None:
        return url_for("survey.trial", token=token, index=trial.trial_index)
    if participant.questionnaire is None and study_info(session, participant.study_pk).settings.survey["questionnaire"]:
        return url_for("survey.questionnaire", token=token)
    return url_for("survey.done", token=token)


def stimulus_url(stimulus: Stimulus | StimulusRef | None, storage: dict[str, Any] | None = None) -> str | None:
    if stimulus is None:
        return None
    if stimulus.url and stimulus.url.startswith("s3://"):
        from webapp.stimulus_urls import presigned

        return presigned(stimulus.url, storage)
    return stimulus.url or url_for("survey.stimulus", name=stimulus.name)


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
    current = _first_open(trials)
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
    try:
        conn = session.connection()
        claimed = conn.execute(update(trials_t).where(trials_t.c.id == trial.id, trials_t.c.answered_at.is_(None))
                               .values(answered_at=now)).rowcount
        if claimed == 1:
            conn.execute(insert(responses_t), rows)
            session.commit()
    except IntegrityError:
        claimed = 0
    if claimed != 1:  # a concurrent retry of the same POST won the race
        session.rollback()
        session.refresh(trial)
        return _replay(session, participant, trial, key, parsed)
    set_committed_value(trial, "answered_at", now)
    return _saved(session, participant, True, trials)


def _saved(session: Session, participant: Participant, created: bool, trials: list[Trial] | None = None) -> Saved:
    if trials is None:
        trials = participant_trials(session, participant)
    following = _first_open(trials)
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

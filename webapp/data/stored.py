"""What the database holds, read-only, for callers outside the server: the answers
stored for participants with an id prefix, participants or pairs allocated more than the
study's settings allow, and how many simulated participants a study has. ``crowdsim``'s
audit and ``camstudy demo`` use these instead of the tables."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.data.engine import make_engine
from webapp.data.tables import Participant, Response, Study, Trial
from webapp.settings import Settings


@contextmanager
def _session(database: str | sa.Engine) -> Iterator[Session]:
    """A session on ``database`` (an engine, or a URL whose engine is disposed afterwards)."""
    engine = make_engine(database) if isinstance(database, str) else database
    try:
        with Session(engine) as session:
            yield session
    finally:
        if engine is not database:
            engine.dispose()


def stored_answers(database: str | sa.Engine, participant_prefix: str
                   ) -> dict[str, list[tuple[int, str, str, str]]]:
    """Every participant whose id starts with ``participant_prefix``, with their stored
    answers as (trial_index, question_id, response_side, idempotency_key) rows."""
    with _session(database) as s:
        people = {p.id: p.participant_id for p in s.scalars(
            select(Participant).where(Participant.participant_id.startswith(participant_prefix, autoescape=True)))}
        out: dict[str, list[tuple[int, str, str, str]]] = {pid: [] for pid in people.values()}
        for pk, pid in people.items():
            out[pid] = [tuple(row) for row in s.execute(
                select(Trial.trial_index, Response.question_id, Response.response_side, Response.idempotency_key)
                .join(Trial, Response.trial_pk == Trial.id).where(Response.participant_pk == pk)
            ).all()]
    return out


def allocation_overruns(database: str | sa.Engine, slack: int = 1) -> list[str]:
    """Participants given more trials (or practice trials) than their study's settings
    allow, and pairs with more live allocations than ``ratings_per_pair + slack``; one
    line each, empty when there is none."""
    problems: list[str] = []
    with _session(database) as s:
        for study in s.scalars(select(Study)):
            settings = Settings.from_dict(study.settings)
            a = settings.assignment
            most = {False: ("trials", a["pairs_per_participant"] + a["attention_checks_per_participant"]),
                    True: ("practice trials", settings.survey["practice_trials"])}
            for is_practice, (what, allowed) in most.items():
                over = s.execute(
                    select(Participant.participant_id, func.count(Trial.id))
                    .join(Trial, Trial.participant_pk == Participant.id)
                    .where(Participant.study_pk == study.id, Trial.is_practice.is_(is_practice))
                    .group_by(Participant.id, Participant.participant_id)
                    .having(func.count(Trial.id) > allowed)
                ).all()
                problems += [f"{pid}: {n} {what}, more than {allowed}" for pid, n in over]
            limit = a["ratings_per_pair"] + slack
            crowded = s.execute(
                select(Trial.pair_pk, func.count(Trial.id))
                .join(Participant, Trial.participant_pk == Participant.id)
                .where(Participant.study_pk == study.id, Trial.is_practice.is_(False),
                       Trial.is_attention_check.is_(False))
                .group_by(Trial.pair_pk)
                .having(func.count(Trial.id) > limit)
            ).all()
            problems += [f"pair #{pk}: allocated {n} times, more than {limit}" for pk, n in crowded]
    return problems


def count_simulated_participants(database: str | sa.Engine, study_id: str) -> int:
    """Simulated participants (id prefix ``sim-``) of the study ``study_id`` (0 when the
    database has no such study)."""
    with _session(database) as s:
        study_pk = s.scalar(select(Study.id).filter_by(study_id=study_id))
        if study_pk is None:
            return 0
        return s.scalar(select(func.count(Participant.id)).where(
            Participant.study_pk == study_pk, Participant.is_simulated)) or 0

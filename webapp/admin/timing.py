"""Server-side timing: the rule that flags participants who answer faster than a person can look.

The server records when each trial was first served as the participant's current trial
(``trials.served_at``) and, when its answer arrives, the milliseconds in between
(``trials.server_ms``; 0 for an answer to a trial never served). The browser's
``rt_ms`` is a hint a script can fake; these times are not. The rule, shared with the
report's default exclusions (analysis/inputs/exclusions.py keeps its own copy of the number:
analysis does not import webapp): a participant whose **median server-side time per
real trial is under 1000 ms** is flagged (admin area) and excluded (report).
"""
from __future__ import annotations

from statistics import median

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.data.tables import Participant, Trial

MIN_MEDIAN_SERVER_MS = 1000
RULE = f"median server-side time per trial under {MIN_MEDIAN_SERVER_MS} ms"


def median_server_ms(session: Session, study_pk: int) -> dict[int, float]:
    """Participant pk -> median server-side milliseconds over their answered real trials."""
    times: dict[int, list[int]] = {}
    for pk, ms in session.execute(
        select(Trial.participant_pk, Trial.server_ms).join(Participant, Trial.participant_pk == Participant.id)
        .where(Participant.study_pk == study_pk, Trial.is_practice.is_(False), Trial.server_ms.is_not(None))
    ):
        times.setdefault(pk, []).append(ms)
    return {pk: float(median(v)) for pk, v in times.items()}


def too_fast(median_ms: float | None) -> bool:
    return median_ms is not None and median_ms < MIN_MEDIAN_SERVER_MS

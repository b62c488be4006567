"""The audit of a simulation run against the database the survey wrote: every
acknowledged answer stored exactly once, nothing else, no over-allocation. It reads the
database only through webapp's public functions (``webapp.stored_answers``,
``webapp.allocation_overruns``)."""
from __future__ import annotations

from typing import Any

from crowdsim.run import SimulationResult
from webapp import SIM_PREFIX, allocation_overruns, stored_answers


def audit(database: Any, result: SimulationResult, slack: int = 1) -> list[str]:
    """What the database (an engine or a URL) says about a simulation run: an empty list when every
    acknowledged answer is stored exactly once (same key, same sides), nothing else was
    stored for these participants, nobody got more trials than the study's settings
    allow, and no pair has more live allocations than ``ratings_per_pair + slack``."""
    problems: list[str] = []
    prefix = f"{SIM_PREFIX}{result.run_id}-"
    people = stored_answers(database, prefix)
    acked = 0
    for pr in result.participants:
        rows = people.get(pr.participant_id)
        if rows is None:
            if pr.acks:
                problems.append(f"{pr.participant_id}: acknowledged answers but no participant row")
            continue
        stored: dict[int, dict[str, tuple[str, str]]] = {}
        for index, q, side, key in rows:
            if q in stored.setdefault(index, {}):
                problems.append(f"{pr.participant_id}: trial {index} question {q} stored twice")
            stored[index][q] = (side, key)
        for ack in pr.acks:
            acked += len(ack.sides)
            got = stored.get(ack.trial_index, {})
            want = {q: (side, ack.idempotency_key) for q, side in ack.sides.items()}
            if got != want:
                problems.append(f"{pr.participant_id}: trial {ack.trial_index} acknowledged {want}, stored {got}")
        extra = set(stored) - {a.trial_index for a in pr.acks}
        if extra and not pr.error:
            problems.append(f"{pr.participant_id}: stored answers never acknowledged for trials {sorted(extra)}")
    if acked != sum(len(a.sides) for pr in result.participants for a in pr.acks):
        problems.append("acknowledged answer count mismatch")
    problems += allocation_overruns(database, slack)
    return problems

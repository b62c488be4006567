"""Which pairs a participant sees, in which order, with which side on the left.

Allocation happens once per participant, when they start (after consent):

- real pairs least-rated first: a pair's load counts answered trials and trials of
  participants still in progress (seen within ``allocation_timeout_minutes``);
- never the same image twice to one participant (also a unique key in the schema);
- attention checks first: the generator draws them on study images, so each
  participant's checks are chosen (least shown first) before the real pairs and their
  images are reserved; the real pairs then come from the other images. Every
  participant gets exactly ``attention_checks_per_participant`` checks; the importer
  refuses a study where that cannot hold or would cost real trials (``settle_checks``);
- attention checks inserted at random positions; practice trials first;
- with ``counterbalance_sides`` each pair goes to the A/B order it has been shown in
  less often, so both orders come out equally often (±1) across participants;
- every random draw comes from the participant's seed, derived from the study's seed
  and the allocation serial number and stored in ``participants.seed``.

Concurrent starts are serialised per study by an atomic ``UPDATE studies SET
allocation_serial = allocation_serial + 1`` as the first statement of the allocation
transaction: it takes the row lock on PostgreSQL and the write lock on SQLite, so the
loads read after it include every earlier allocation.
"""
from __future__ import annotations

import hashlib
import random
from datetime import timedelta

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from webapp.data.tables import Pair, Participant, Study, Trial, utcnow
from webapp.settings import Settings


class StudyFull(Exception):
    """No pair is left under ``max_ratings_per_pair``."""


CHECKS, PAIRS = "attention_checks_per_participant", "pairs_per_participant"


def settle_checks(pairs: list[tuple[str, bool]], assignment: dict, written: set[str]) -> str | None:
    """Fix the number of attention checks every participant gets, or say why it cannot be.

    ``pairs``: (image_id, is_check) per manifest pair; ``written``: the [assignment] keys
    study.toml sets. An unset ``attention_checks_per_participant`` becomes its default or
    every check on a distinct image, whichever is fewer (``assignment`` is updated). A set
    one larger than that is refused, and so is a set ``pairs_per_participant`` that the
    checks' reserved images would cut short (None: it works)."""
    real = {image for image, check in pairs if not check}
    checks = {image for image, check in pairs if check}
    if CHECKS not in written:
        assignment[CHECKS] = min(assignment[CHECKS], len(checks))
    k, wanted = assignment[CHECKS], assignment[PAIRS]
    if k > len(checks):
        return (f"[assignment] {CHECKS} = {k}, but the manifest has attention checks on only "
                f"{len(checks)} distinct image(s): lower the setting or render more checks ([pairs] attention_checks)")
    room = len(real) - min(k, len(real & checks))  # a participant's checks may take that many images
    if PAIRS in written and min(wanted, len(real)) > room:
        return (f"[assignment] {PAIRS} = {wanted} with {CHECKS} = {k}: the checks are drawn on study images "
                f"and nobody sees an image twice, so a participant can rate at most {room} of the "
                f"{len(real)} images with real pairs; lower {PAIRS} to {room} or the checks per participant")
    return None


def participant_seed(study_seed: int, serial: int) -> int:
    digest = hashlib.sha256(f"camstudy:{study_seed}:{serial}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # fits a signed BIGINT


def pair_loads(session: Session, study_pk: int, timeout_minutes: int) -> dict[tuple[int, bool], int]:
    """(pair pk, swapped) -> number of live allocations (answered or still in progress)."""
    cutoff = utcnow() - timedelta(minutes=timeout_minutes)
    live = or_(
        Trial.answered_at.is_not(None),
        Participant.completed_at.is_not(None),
        Participant.last_seen_at >= cutoff,
    )
    rows = session.execute(
        select(Trial.pair_pk, Trial.swapped, func.count())
        .join(Participant, Trial.participant_pk == Participant.id)
        .where(Participant.study_pk == study_pk, Trial.is_practice.is_(False), live)
        .group_by(Trial.pair_pk, Trial.swapped)
    )
    return {(pk, bool(swapped)): n for pk, swapped, n in rows}


def allocate(session: Session, participant: Participant, settings: Settings) -> None:
    """Create the participant's trials (once; a second call does nothing). Commits."""
    if participant.allocated_at is not None:
        return
    study_pk = participant.study_pk
    serial, study_seed, study_id = session.execute(
        update(Study)
        .where(Study.id == study_pk)
        .values(allocation_serial=Study.allocation_serial + 1)
        .returning(Study.allocation_serial, Study.seed, Study.study_id)
    ).one()
    # Under the lock now: another request may have allocated this participant meanwhile.
    if session.execute(
        select(Participant.allocated_at).where(Participant.id == participant.id)
    ).scalar() is not None:
        session.rollback()
        session.refresh(participant)
        return

    a = settings.assignment
    seed = participant_seed(study_seed, serial)
    rng = random.Random(seed)
    loads = pair_loads(session, study_pk, a["allocation_timeout_minutes"])

    def load(p: Pair) -> int:
        return loads.get((p.id, False), 0) + loads.get((p.id, True), 0)

    # plain rows, not ORM objects: this runs under the study's allocation lock
    pairs = session.execute(
        select(Pair.id, Pair.image_id, Pair.is_attention_check, Pair.a_method, Pair.b_method)
        .where(Pair.study_pk == study_pk).order_by(Pair.id)).all()
    cap = a["max_ratings_per_pair"]
    used_images: set[str] = set()

    def pick(candidates: list[Pair], n: int) -> list[Pair]:
        rng.shuffle(candidates)
        candidates.sort(key=load)  # stable: random order among equally loaded pairs
        chosen = []
        for p in candidates:
            if len(chosen) == n:
                break
            if p.image_id in used_images or (cap and load(p) >= cap and not p.is_attention_check):
                continue
            chosen.append(p)
            used_images.add(p.image_id)
        return chosen

    # Checks first: they share images with real pairs, and the repeat rule must not skip them.
    checks = pick([p for p in pairs if p.is_attention_check], a["attention_checks_per_participant"])
    real = pick([p for p in pairs if not p.is_attention_check], a["pairs_per_participant"])
    if not real:
        session.rollback()
        raise StudyFull(study_id)
    rest = [p for p in pairs if p.image_id not in used_images]
    # Practice on spare attention checks first: they show no method at all.
    n_practice = settings.survey["practice_trials"]
    practice = pick([p for p in rest if p.is_attention_check], n_practice)
    practice += pick([p for p in rest if not p.is_attention_check], n_practice - len(practice))

    sequence = list(real)
    rng.shuffle(sequence)
    for check in checks:
        sequence.insert(rng.randint(0, len(sequence)), check)

    def orientation(p: Pair) -> bool:
        if p.is_attention_check or not a["counterbalance_sides"]:
            return False
        shown_ab, shown_ba = loads.get((p.id, False), 0), loads.get((p.id, True), 0)
        return shown_ba < shown_ab if shown_ab != shown_ba else rng.random() < 0.5

    ordered = [(i - len(practice), p) for i, p in enumerate(practice)] + list(enumerate(sequence))
    rows = []
    for index, p in ordered:
        swapped = orientation(p) if index >= 0 else False
        left, right = (p.b_method, p.a_method) if swapped else (p.a_method, p.b_method)
        rows.append({
            "participant_pk": participant.id, "pair_pk": p.id, "image_id": p.image_id,
            "trial_index": index, "is_practice": index < 0, "is_attention_check": p.is_attention_check,
            "swapped": swapped, "left_method": left, "right_method": right,
        })
    session.connection().execute(insert(Trial.__table__), rows)  # one multi-row INSERT, no unit of work
    participant.seed = seed
    participant.allocated_at = utcnow()
    session.commit()

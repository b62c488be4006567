"""Allocation: least-rated first, counterbalanced sides, attention checks at random
positions, seeds in the database, and correct under concurrent starts."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tests.webapp.helpers import migrate_and_import
from webapp.data.engine import make_engine
from webapp.data.tables import Pair, Participant, Study, Trial, utcnow
from webapp.recruitment import sources
from webapp.settings import Settings
from webapp.survey.assignment import StudyFull, allocate, participant_seed

TOML = """[survey]
practice_trials = 0
[assignment]
pairs_per_participant = 4
attention_checks_per_participant = 1
ratings_per_pair = 8
"""


@pytest.fixture
def study_db(any_db_url, make_study):
    migrate_and_import(any_db_url, make_study(n_pairs=6, n_attention=2, toml=TOML))
    engine = make_engine(any_db_url)
    yield engine
    engine.dispose()


def start(engine, pid: str) -> int:
    with Session(engine, expire_on_commit=False) as s:
        study = s.scalars(select(Study)).one()
        p, _ = sources.get("lab").find_or_create(s, study, pid)
        allocate(s, p, Settings.from_dict(study.settings))
        return p.id


def trials_of(engine, participant_pk: int) -> list[Trial]:
    with Session(engine) as s:
        return list(s.scalars(select(Trial).filter_by(participant_pk=participant_pk).order_by(Trial.trial_index)))


def pair_counts(engine) -> tuple[Counter, Counter]:
    with Session(engine) as s:
        rows = s.execute(select(Pair.pair_id, Trial.swapped).join(Trial, Trial.pair_pk == Pair.id)
                         .where(Pair.is_attention_check.is_(False))).all()
    return Counter(p for p, _ in rows), Counter((p, sw) for p, sw in rows)


def test_concurrent_starts_spread_pairs_evenly_and_balance_sides(study_db):
    n = 12
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            start(study_db, f"C{i:02d}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    totals, by_side = pair_counts(study_db)
    # 12 participants x 4 pairs over 6 pairs: exactly 8 each only if no two allocations raced
    assert sorted(totals.values()) == [8] * 6
    for pair_id in totals:
        assert by_side[(pair_id, False)] == by_side[(pair_id, True)] == 4
    with Session(study_db) as s:
        seeds = s.scalars(select(Participant.seed)).all()
        assert len(set(seeds)) == n and s.scalars(select(Study.allocation_serial)).one() == n


def test_least_rated_pairs_come_first(study_db):
    first = {t.pair_pk for t in trials_of(study_db, start(study_db, "L1")) if not t.is_attention_check}
    second = {t.pair_pk for t in trials_of(study_db, start(study_db, "L2")) if not t.is_attention_check}
    # 6 pairs, 4 each: the second participant gets the 2 pairs the first did not see
    assert len(first) == 4 and len(first & second) == 2


def test_abandoned_allocations_stop_counting_after_the_timeout(study_db):
    first = start(study_db, "T1")
    with Session(study_db) as s:
        p = s.get(Participant, first)
        p.last_seen_at = utcnow() - timedelta(hours=2)  # timeout is 60 minutes
        s.commit()
    mine = {t.pair_pk for t in trials_of(study_db, first) if not t.is_attention_check}
    second = {t.pair_pk for t in trials_of(study_db, start(study_db, "T2")) if not t.is_attention_check}
    assert mine & second  # the expired allocation no longer holds its pairs


def test_sequence_has_attention_check_practice_first_distinct_images_and_stored_seed(study_db):
    pk = start(study_db, "S1")
    trials = trials_of(study_db, pk)
    assert [t.trial_index for t in trials] == [0, 1, 2, 3, 4]
    assert sum(t.is_attention_check for t in trials) == 1
    assert len({t.image_id for t in trials}) == len(trials)
    with Session(study_db) as s:
        p = s.get(Participant, pk)
        study = s.scalars(select(Study)).one()
        assert p.seed == participant_seed(study.seed, 1)


def test_attention_checks_land_at_varying_positions(study_db):
    positions = set()
    for i in range(8):
        trials = trials_of(study_db, start(study_db, f"A{i}"))
        positions |= {t.trial_index for t in trials if t.is_attention_check}
    assert len(positions) >= 3


def test_allocating_twice_changes_nothing(study_db):
    pk = start(study_db, "D1")
    before = [(t.pair_pk, t.trial_index) for t in trials_of(study_db, pk)]
    start(study_db, "D1")
    assert [(t.pair_pk, t.trial_index) for t in trials_of(study_db, pk)] == before


def test_schema_refuses_the_same_image_twice_for_one_participant(study_db):
    pk = start(study_db, "U1")
    with Session(study_db) as s:
        t = s.scalars(select(Trial).filter_by(participant_pk=pk)).first()
        s.add(Trial(participant_pk=pk, pair_pk=t.pair_pk, image_id=t.image_id, trial_index=99))
        with pytest.raises(IntegrityError):
            s.commit()


def test_cap_on_ratings_makes_the_study_full(sqlite_url, make_study):
    migrate_and_import(sqlite_url, make_study(n_pairs=2, n_attention=0, toml=(
        "[survey]\npractice_trials = 0\n[assignment]\npairs_per_participant = 2\nratings_per_pair = 1\n"
        "max_ratings_per_pair = 1\n")))
    engine = make_engine(sqlite_url)
    start(engine, "F1")
    with pytest.raises(StudyFull):
        start(engine, "F2")
    engine.dispose()


def test_without_counterbalancing_the_manifest_order_is_kept(sqlite_url, make_study):
    migrate_and_import(sqlite_url, make_study(n_pairs=4, n_attention=0, toml=(
        "[assignment]\npairs_per_participant = 4\ncounterbalance_sides = false\n")))
    engine = make_engine(sqlite_url)
    for i in range(3):
        start(engine, f"N{i}")
    with Session(engine) as s:
        rows = s.execute(select(Trial, Pair).join(Pair, Trial.pair_pk == Pair.id)).all()
        assert all(not t.swapped and t.left_method == p.a_method for t, p in rows)
    engine.dispose()

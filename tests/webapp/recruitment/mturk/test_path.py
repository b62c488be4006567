"""A newcomer's MTurk path, against botocore's Stubber: `mturk create` refuses a study that
does not recruit on MTurk (the survey would turn every worker away), and the sandbox
does not hide a HIT behind qualifications a fresh sandbox worker cannot have."""
from __future__ import annotations

import pytest
from botocore.stub import ANY
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.cli import mturk_main as main
from webapp.data.engine import make_engine
from webapp.data.tables import MTurkHIT

BASE = ("[assignment]\nratings_per_pair = 2\npairs_per_participant = 2\nattention_checks_per_participant = 0\n"
        "[survey]\npractice_trials = 0\n"
        "[mturk]\npublic_url = 'https://survey.example.org'\nassignments = 3\nexclude_participants = false\n")
MTURK = "[recruitment]\nsources = ['mturk']\n" + BASE
APPROVAL_RATE, APPROVED_HITS, LOCALE = "000000000000000000L0", "00000000000000000040", "00000000000000000071"


def create(db_url: str, mturk, *argv: str) -> int:
    mturk.add_response("create_hit_type", {"HITTypeId": "TYPE1"})
    mturk.add_response("create_hit_with_hit_type", {"HIT": {"HITId": "HIT0", "HITTypeId": "TYPE1"}}, {
        "HITTypeId": "TYPE1", "MaxAssignments": 3, "LifetimeInSeconds": ANY, "Question": ANY,
        "RequesterAnnotation": ANY, "UniqueRequestToken": ANY})
    return main(["create", *argv, "--database-url", db_url], client=mturk.client)


def requirements(mturk) -> dict[str, dict]:
    reqs = next(p["QualificationRequirements"] for op, p in mturk.sent if op == "CreateHITType")
    return {r["QualificationTypeId"]: r for r in reqs}


def test_create_refuses_a_lab_only_study_naming_the_setting(make_app, make_study, sqlite_url, mturk, capsys):
    make_app(sqlite_url, make_study(toml="[recruitment]\nsources = ['lab']\n" + BASE))
    assert main(["create", "--database-url", sqlite_url], client=mturk.client) == 1
    err = capsys.readouterr().err
    assert "[recruitment] sources" in err and "mturk" in err
    assert not mturk.sent  # nothing went to MTurk
    engine = make_engine(sqlite_url)
    with Session(engine) as s:
        assert s.scalar(select(func.count(MTurkHIT.id))) == 0
    engine.dispose()


def test_sandbox_hit_has_no_worker_requirements_unless_configured(make_app, make_study, sqlite_url, mturk):
    make_app(sqlite_url, make_study(toml=MTURK))
    assert create(sqlite_url, mturk) == 0
    assert requirements(mturk) == {}  # a fresh sandbox worker account can find and accept it


def test_live_hit_keeps_the_safe_worker_requirements(make_app, make_study, sqlite_url, mturk):
    make_app(sqlite_url, make_study(toml=MTURK))
    assert create(sqlite_url, mturk, "--live", "--yes") == 0
    reqs = requirements(mturk)
    assert reqs[APPROVAL_RATE]["IntegerValues"] == [95]
    assert reqs[APPROVED_HITS]["IntegerValues"] == [100]
    assert reqs[LOCALE]["LocaleValues"] == [{"Country": "US"}]


def test_sandbox_keeps_requirements_the_study_sets(make_app, make_study, sqlite_url, mturk):
    make_app(sqlite_url, make_study(toml=MTURK + "min_approved_hits = 10\nlocales = ['GB']\n"))
    assert create(sqlite_url, mturk) == 0
    reqs = requirements(mturk)
    assert reqs[APPROVED_HITS]["IntegerValues"] == [10] and reqs[LOCALE]["LocaleValues"] == [{"Country": "GB"}]
    assert APPROVAL_RATE not in reqs

"""`camstudy mturk ...` against botocore's Stubber, which checks every request against
MTurk's real service model: create (batches of <= 9, tokens, qualifications,
ExternalQuestion), list, status, review, bonus, expire, delete, throttling and errors;
and `--dry-run`, whose printed calls botocore's own parameter validation accepts."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.stub import ANY
from botocore.validate import validate_parameters
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.cli import mturk_main as main
from webapp.data.engine import make_engine
from webapp.data.tables import MTurkAssignment, MTurkHIT, MTurkQualification

NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"
TOML = (
    "[recruitment]\nsources = ['mturk']\n"
    "[assignment]\nratings_per_pair = 5\npairs_per_participant = 2\nattention_checks_per_participant = 1\n"
    "[survey]\npractice_trials = 0\n"
    "[mturk]\npublic_url = 'https://survey.example.org'\nreward = '1.20'\nassignments = 20\n"
    "locales = ['US', 'CA-ON']\nmin_approval_rate = 98\nmin_approved_hits = 500\n"
)
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def study_db(make_app, make_study, sqlite_url):
    app = make_app(sqlite_url, make_study(toml=TOML))
    return app, sqlite_url


def run(url, mturk, *argv, sleep=None) -> int:
    return main([*argv, "--database-url", url], client=mturk.client, sleep=sleep)


def hit(hit_id: str, n: int = 9, status: str = "Assignable", **kw) -> dict:
    return {"HIT": {"HITId": hit_id, "HITTypeId": "TYPE1", "HITStatus": status, "MaxAssignments": n,
                    "Expiration": NOW, **kw}}


def stub_create(mturk, sizes, qual=True) -> None:
    if qual:
        mturk.add_response("create_qualification_type", {"QualificationType": {"QualificationTypeId": "QUALSELF"}})
    mturk.add_response("create_hit_type", {"HITTypeId": "TYPE1"})
    for i, n in enumerate(sizes):
        mturk.add_response("create_hit_with_hit_type", hit(f"HIT{i}", n), {
            "HITTypeId": "TYPE1", "MaxAssignments": n, "LifetimeInSeconds": 72 * 3600, "Question": ANY,
            "RequesterAnnotation": ANY, "UniqueRequestToken": ANY})


def rows(url):
    engine = make_engine(url)
    with Session(engine) as s:
        hits = s.scalars(select(MTurkHIT).order_by(MTurkHIT.id)).all()
        assignments = s.scalars(select(MTurkAssignment).order_by(MTurkAssignment.id)).all()
    engine.dispose()
    return hits, assignments


def test_create_splits_into_hits_of_at_most_nine_with_one_hit_type_and_unique_tokens(study_db, mturk, capsys):
    _, url = study_db
    stub_create(mturk, [9, 9, 2])
    assert run(url, mturk, "create") == 0
    creates = [p for op, p in mturk.sent if op == "CreateHITWithHITType"]
    assert [p["MaxAssignments"] for p in creates] == [9, 9, 2]
    assert {p["HITTypeId"] for p in creates} == {"TYPE1"} and sum(op == "CreateHITType" for op, _ in mturk.sent) == 1
    tokens = [p["UniqueRequestToken"] for p in creates]
    assert len(set(tokens)) == 3 and all(len(t) <= 64 for t in tokens)
    hits, _ = rows(url)
    assert [(h.hit_id, h.max_assignments, h.unique_request_token, h.sandbox) for h in hits] == [
        (f"HIT{i}", n, t, True) for i, (n, t) in enumerate(zip([9, 9, 2], tokens))]
    assert "total: $28.80" in capsys.readouterr().out  # 20 x (1.20 + 0.24 fee)


def test_external_question_has_the_schema_namespace_and_an_https_url(study_db, mturk):
    _, url = study_db
    stub_create(mturk, [9, 9, 2])
    run(url, mturk, "create")
    question = next(p["Question"] for op, p in mturk.sent if op == "CreateHITWithHITType")
    root = ET.fromstring(question)
    assert root.tag == f"{{{NS}}}ExternalQuestion"
    external = urlsplit(root.find(f"{{{NS}}}ExternalURL").text)
    assert (external.scheme, external.netloc, external.path) == ("https", "survey.example.org", "/mturk/")
    assert root.find(f"{{{NS}}}FrameHeight").text == "800"


def test_qualifications_from_the_mturk_section_and_the_exclusion_guarding_accept(study_db, mturk):
    _, url = study_db
    stub_create(mturk, [9, 9, 2])
    run(url, mturk, "create")
    reqs = next(p["QualificationRequirements"] for op, p in mturk.sent if op == "CreateHITType")
    by_id = {r["QualificationTypeId"]: r for r in reqs}
    assert by_id["000000000000000000L0"]["IntegerValues"] == [98]
    assert by_id["00000000000000000040"]["IntegerValues"] == [500]
    assert by_id["00000000000000000071"]["LocaleValues"] == [{"Country": "US"}, {"Country": "CA", "Subdivision": "ON"}]
    assert by_id["QUALSELF"] == {"QualificationTypeId": "QUALSELF", "Comparator": "DoesNotExist", "ActionsGuarded": "Accept"}
    assert "2ARFPLSP75KLA8M8DH1HTEQVJT3SY6" not in by_id  # Masters only when asked


def test_create_refuses_a_plain_http_url(study_db, mturk, capsys):
    _, url = study_db
    assert run(url, mturk, "create", "--url", "http://survey.example.org") == 1
    assert "https://" in capsys.readouterr().err and not mturk.sent


def test_a_retried_create_reuses_the_tokens_and_never_doubles_a_hit(study_db, mturk, capsys):
    _, url = study_db
    stub_create(mturk, [9])
    mturk.add_client_error("create_hit_with_hit_type", "ServiceFault", "Internal error", 500)
    assert run(url, mturk, "create") == 1
    assert "MTurk refused create_hit_with_hit_type: ServiceFault" in capsys.readouterr().err
    first_tokens = [p["UniqueRequestToken"] for op, p in mturk.sent if op == "CreateHITWithHITType"]
    mturk.sent.clear()
    # Second run: the HIT that failed had in fact been created (its token is known to MTurk).
    mturk.add_response("create_hit_type", {"HITTypeId": "TYPE1"})
    mturk.add_client_error("create_hit_with_hit_type", "RequestError",
                           "There is already a HIT which exists with the same UniqueRequestToken.", 400)
    mturk.add_response("list_hits", {"HITs": [hit("HIT1")["HIT"] | {"RequesterAnnotation": first_tokens[1]}],
                                     "NumResults": 1}, {"MaxResults": 100})
    mturk.add_response("create_hit_with_hit_type", hit("HIT2", 2))
    assert run(url, mturk, "create") == 0
    retried = [p["UniqueRequestToken"] for op, p in mturk.sent if op == "CreateHITWithHITType"]
    assert retried == first_tokens[1:] + [retried[-1]] and retried[-1] not in first_tokens
    assert not any(op == "CreateQualificationType" for op, _ in mturk.sent)  # stored the first time
    hits, _ = rows(url)
    assert [(h.hit_id, h.max_assignments) for h in hits] == [("HIT0", 9), ("HIT1", 9), ("HIT2", 2)]


def test_create_dry_run_prints_calls_that_botocore_validates_and_sends_nothing(study_db, capsys):
    _, url = study_db
    assert main(["create", "--dry-run", "--database-url", url]) == 0  # no client at all
    captured = capsys.readouterr()
    calls = [json.loads(line) for line in captured.out.splitlines()]
    assert [c["operation"] for c in calls] == ["create_qualification_type", "create_hit_type"] + [
        "create_hit_with_hit_type"] * 3
    model = boto3.client("mturk", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y").meta
    for call in calls:
        op = model.service_model.operation_model(model.method_to_api_mapping[call["operation"]])
        validate_parameters(call["params"], op.input_shape)  # raises ParamValidationError if not
    assert "total: $28.80" in captured.err
    hits, _ = rows(url)
    assert hits == []  # nothing stored either


@pytest.mark.parametrize("argv", [["expire"], ["delete"], ["list"], ["status"], ["review"], ["balance"],
                                  ["bonus", "--all-approved", "--amount", "0.50", "--reason", "Thanks"]])
def test_every_command_dry_runs_to_valid_calls(study_db, mturk, capsys, argv):
    _, url = study_db
    stub_create(mturk, [9, 9, 2])
    run(url, mturk, "create")
    _approved_assignment(url)
    capsys.readouterr()
    assert run(url, mturk, *argv, "--dry-run") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines, "a dry run prints the calls it would make"
    meta = mturk.client.meta
    for line in lines:
        call = json.loads(line)
        op = meta.service_model.operation_model(meta.method_to_api_mapping[call["operation"]])
        validate_parameters(call["params"], op.input_shape)


def _approved_assignment(url):
    engine = make_engine(url)
    with Session(engine) as s:
        h = s.scalars(select(MTurkHIT)).first()
        s.add(MTurkAssignment(hit_pk=h.id, assignment_id="ASSIGNOK", worker_id="WOK", status="Approved"))
        s.commit()
    engine.dispose()


def test_list_shows_each_hit_with_its_counts(study_db, mturk, capsys):
    _, url = study_db
    stub_create(mturk, [9, 9, 2])
    run(url, mturk, "create")
    capsys.readouterr()
    for i, n in enumerate([9, 9, 2]):
        mturk.add_response("get_hit", hit(f"HIT{i}", n, NumberOfAssignmentsAvailable=n - 1,
                                          NumberOfAssignmentsPending=1, NumberOfAssignmentsCompleted=0),
                           {"HITId": f"HIT{i}"})
    assert run(url, mturk, "list") == 0
    out = capsys.readouterr().out
    assert [line.split()[:6] for line in out.splitlines()[1:]] == [
        ["HIT0", "Assignable", "9", "8", "1", "0"], ["HIT1", "Assignable", "9", "8", "1", "0"],
        ["HIT2", "Assignable", "2", "1", "1", "0"]]


# --------------------------------------------------------------------------- review


def _worker_takes_the_survey(app, assignment: str, worker: str, attention: str | None, finish: bool = True):
    """A worker through the real survey pages; ``attention``: the side given on the attention check."""
    from tests.webapp.helpers import Walker

    client = app.test_client()
    r = client.get("/mturk/", query_string={"assignmentId": assignment, "hitId": "HIT0", "workerId": worker,
                                            "turkSubmitTo": "https://workersandbox.mturk.com"})
    walker = Walker(client)
    walker.token = r.headers["Location"].split("/s/")[1].split("/")[0]
    walker.consent_and_instructions()
    if not finish:
        return
    for _ in range(10):
        state = walker.current()
        if "/trial/" not in state["next_url"]:
            break
        with app.app_context():
            from webapp.data.engine import db
            from webapp.data.tables import Participant, Trial

            p = db.session.scalar(select(Participant).filter_by(token=walker.token))
            t = db.session.scalar(select(Trial).filter_by(participant_pk=p.id, trial_index=state["next_trial"]))
            check = t.is_attention_check
        sides = {"larger": attention, "focused": "B"} if check else None
        assert walker.answer(state["next_trial"], sides).status_code == 201
    walker.form(f"/s/{walker.token}/questionnaire", {"familiarity": "some"})
    walker.get(f"/s/{walker.token}/done")


def _submitted(assignment: str, worker: str, status: str = "Submitted") -> dict:
    return {"AssignmentId": assignment, "WorkerId": worker, "HITId": "HIT0", "AssignmentStatus": status,
            "SubmitTime": NOW}


@pytest.fixture
def reviewable(study_db, mturk):
    app, url = study_db
    stub_create(mturk, [9, 9, 2])
    assert run(url, mturk, "create") == 0
    _worker_takes_the_survey(app, "ASSIGNGOOD", "WGOOD", attention="A")  # expected: larger = A
    _worker_takes_the_survey(app, "ASSIGNBAD", "WBAD", attention="B")
    _worker_takes_the_survey(app, "ASSIGNQUIT", "WQUIT", attention=None, finish=False)
    def stub_listing(approved=()):
        listing = {"Assignments": [
            _submitted("ASSIGNGOOD", "WGOOD", "Approved" if "ASSIGNGOOD" in approved else "Submitted"),
            _submitted("ASSIGNBAD", "WBAD"), _submitted("ASSIGNQUIT", "WQUIT"), _submitted("ASSIGNGHOST", "WGHOST")],
            "NumResults": 4}
        mturk.add_response("list_assignments_for_hit", listing, {"HITId": "HIT0", "MaxResults": 100})
        for h in ("HIT1", "HIT2"):
            mturk.add_response("list_assignments_for_hit", {"Assignments": [], "NumResults": 0},
                               {"HITId": h, "MaxResults": 100})

    return url, stub_listing


def test_review_is_a_dry_run_by_default(reviewable, mturk, capsys):
    url, stub_listing = reviewable
    stub_listing()
    capsys.readouterr()
    assert run(url, mturk, "review") == 0
    out = capsys.readouterr().out
    assert "approve  ASSIGNGOOD" in out and "hold     ASSIGNBAD" in out and "attention checks 1/2" in out
    assert "hold     ASSIGNQUIT" in out and "did not finish" in out and "hold     ASSIGNGHOST" in out
    printed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert {"operation": "approve_assignment",
            "params": {"AssignmentId": "ASSIGNGOOD", "RequesterFeedback": "Thank you for taking part."}} in printed
    assert not any(op in ("ApproveAssignment", "RejectAssignment") for op, _ in mturk.sent)
    _, assignments = rows(url)
    assert {a.assignment_id: a.status for a in assignments}["ASSIGNGOOD"] == "Submitted"


def test_review_apply_approves_passes_and_rejects_failures_only_with_reject(reviewable, mturk, capsys):
    url, stub_listing = reviewable
    stub_listing()
    mturk.add_response("approve_assignment", {}, {"AssignmentId": "ASSIGNGOOD", "RequesterFeedback": ANY})
    for w in ("WBAD", "WGHOST", "WGOOD", "WQUIT"):  # everyone who took part cannot take it again
        mturk.add_response("associate_qualification_with_worker", {}, {
            "QualificationTypeId": "QUALSELF", "WorkerId": w, "IntegerValue": 1, "SendNotification": False})
    assert run(url, mturk, "review", "--apply") == 0
    stub_listing(approved={"ASSIGNGOOD"})
    for a in ("ASSIGNBAD", "ASSIGNQUIT", "ASSIGNGHOST"):
        mturk.add_response("reject_assignment", {}, {"AssignmentId": a, "RequesterFeedback": "Attention checks failed."})
    assert run(url, mturk, "review", "--apply", "--reject", "--message", "Attention checks failed.") == 0
    _, assignments = rows(url)
    assert {a.assignment_id: a.status for a in assignments} == {
        "ASSIGNGOOD": "Approved", "ASSIGNBAD": "Rejected", "ASSIGNQUIT": "Rejected", "ASSIGNGHOST": "Rejected"}
    assert all(a.excluded_at is not None for a in assignments)


def test_review_verifies_listed_assignments_and_qualifies_only_listed_workers(study_db, mturk, capsys):
    """Attack: forged sessions (an invented assignment for a real worker, one for a worker
    who never came) finish the survey; only MTurk's own listing verifies and qualifies."""
    from webapp.data.tables import Participant

    app, url = study_db
    stub_create(mturk, [9, 9, 2])
    assert run(url, mturk, "create") == 0
    _worker_takes_the_survey(app, "ASSIGNGOOD", "WGOOD", attention="A")
    _worker_takes_the_survey(app, "FAKEGOOD", "WGOOD", attention="A")
    _worker_takes_the_survey(app, "FAKEVICTIM", "VICTIM", attention="A")
    mturk.add_response("list_assignments_for_hit", {"Assignments": [_submitted("ASSIGNGOOD", "WGOOD")],
                                                    "NumResults": 1}, {"HITId": "HIT0", "MaxResults": 100})
    for h in ("HIT1", "HIT2"):
        mturk.add_response("list_assignments_for_hit", {"Assignments": [], "NumResults": 0},
                           {"HITId": h, "MaxResults": 100})
    mturk.add_response("approve_assignment", {}, {"AssignmentId": "ASSIGNGOOD", "RequesterFeedback": ANY})
    mturk.add_response("associate_qualification_with_worker", {}, {  # WGOOD only, never VICTIM
        "QualificationTypeId": "QUALSELF", "WorkerId": "WGOOD", "IntegerValue": 1, "SendNotification": False})
    assert run(url, mturk, "review", "--apply") == 0
    assert "2 survey session(s) claim assignments MTurk has not listed" in capsys.readouterr().out
    engine = make_engine(url)
    with Session(engine) as s:
        got = {(p.participant_id, p.claim): p.verification for p in s.scalars(select(Participant))}
    engine.dispose()
    assert got == {("WGOOD", "ASSIGNGOOD"): "verified", ("WGOOD", "FAKEGOOD"): "unverified",
                   ("VICTIM", "FAKEVICTIM"): "unverified"}
    _, assignments = rows(url)
    assert [(a.assignment_id, a.status, a.participant_pk is not None) for a in assignments] == [
        ("ASSIGNGOOD", "Approved", True)]


def test_reject_needs_a_message(study_db, mturk, capsys):
    _, url = study_db
    assert run(url, mturk, "review", "--apply", "--reject") == 2
    assert "--message" in capsys.readouterr().err


# --------------------------------------------------------------------------- bonus, expire, delete


def test_bonus_is_paid_once_per_assignment(study_db, mturk, capsys):
    _, url = study_db
    stub_create(mturk, [9, 9, 2])
    run(url, mturk, "create")
    _approved_assignment(url)
    mturk.add_response("send_bonus", {}, {"WorkerId": "WOK", "BonusAmount": "0.50", "AssignmentId": "ASSIGNOK",
                                          "Reason": "Great work", "UniqueRequestToken": "camstudy-bonus-ASSIGNOK"})
    assert run(url, mturk, "bonus", "--assignment", "ASSIGNOK", "--amount", "0.50", "--reason", "Great work") == 0
    capsys.readouterr()
    assert run(url, mturk, "bonus", "--all-approved", "--amount", "0.50", "--reason", "Great work") == 0
    assert "already paid" in capsys.readouterr().out
    assert sum(op == "SendBonus" for op, _ in mturk.sent) == 1


def test_a_bonus_mturk_already_has_is_recorded_not_paid_twice(study_db, mturk, capsys):
    _, url = study_db
    stub_create(mturk, [9, 9, 2])
    run(url, mturk, "create")
    _approved_assignment(url)
    mturk.add_client_error("send_bonus", "RequestError",
                           "The UniqueRequestToken camstudy-bonus-ASSIGNOK was already used.", 400)
    assert run(url, mturk, "bonus", "--assignment", "ASSIGNOK", "--amount", "0.50", "--reason", "Thanks") == 0
    _, assignments = rows(url)
    assert assignments[0].bonus_sent_at is not None and assignments[0].bonus_amount == "0.50"


def test_expire_sets_a_past_expiration_on_every_hit(study_db, mturk):
    _, url = study_db
    stub_create(mturk, [9, 9, 2])
    run(url, mturk, "create")
    for i in range(3):
        mturk.add_response("update_expiration_for_hit", {}, {"HITId": f"HIT{i}", "ExpireAt": ANY})
    assert run(url, mturk, "expire") == 0
    expire_at = [p["ExpireAt"] for op, p in mturk.sent if op == "UpdateExpirationForHIT"]
    assert len(expire_at) == 3 and all(t < NOW for t in expire_at)


def test_delete_reports_a_hit_mturk_cannot_delete_yet(study_db, mturk, capsys):
    _, url = study_db
    stub_create(mturk, [9, 9, 2])
    run(url, mturk, "create")
    mturk.add_response("delete_hit", {}, {"HITId": "HIT0"})
    mturk.add_client_error("delete_hit", "RequestError", "This HIT is currently in the state 'Assignable'.", 400)
    mturk.add_response("delete_hit", {}, {"HITId": "HIT2"})
    assert run(url, mturk, "delete") == 1
    out = capsys.readouterr().out
    assert "deleted HIT HIT0" in out and "HIT HIT1: MTurk refused delete_hit: RequestError: This HIT is currently" in out
    hits, _ = rows(url)
    assert [h.deleted_at is not None for h in hits] == [True, False, True]


# --------------------------------------------------------------------------- errors


def test_throttling_is_retried_with_backoff(study_db, mturk, capsys):
    _, url = study_db
    for _ in range(2):
        mturk.add_client_error("get_account_balance", "ThrottlingException", "Rate exceeded", 400)
    mturk.add_response("get_account_balance", {"AvailableBalance": "10000.00"})
    waits: list[float] = []
    assert run(url, mturk, "balance", sleep=waits.append) == 0
    assert "sandbox balance: $10000.00" in capsys.readouterr().out
    assert waits == [1.0, 2.0]


def test_throttling_that_does_not_stop_is_a_clear_error(study_db, mturk, capsys):
    _, url = study_db
    for _ in range(5):
        mturk.add_client_error("get_account_balance", "ThrottlingException", "Rate exceeded", 400)
    assert run(url, mturk, "balance", sleep=lambda s: None) == 1
    assert "error: MTurk refused get_account_balance: ThrottlingException: Rate exceeded" in capsys.readouterr().err


def test_a_request_error_is_shown_as_a_clear_message(study_db, mturk, capsys):
    _, url = study_db
    mturk.add_response("create_qualification_type", {"QualificationType": {"QualificationTypeId": "QUALSELF"}})
    mturk.add_client_error("create_hit_type", "RequestError", "Reward must be at least 0.01.", 400)
    assert run(url, mturk, "create") == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "error: MTurk refused create_hit_type: RequestError: Reward must be at least 0.01."
    assert "Traceback" not in err


def test_live_mode_without_yes_needs_a_typed_confirmation(study_db, mturk, capsys, monkeypatch):
    _, url = study_db
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # not a terminal
    assert run(url, mturk, "create", "--live") == 1
    captured = capsys.readouterr()
    assert "live: study test-study" in captured.out and "$28.80" in captured.err and "--yes" in captured.err
    assert not mturk.sent


def test_live_with_yes_uses_the_live_masters_id(make_app, make_study, sqlite_url, mturk):
    make_app(sqlite_url, make_study(toml=TOML + "masters = true\n"))
    stub_create(mturk, [9, 9, 2])
    assert run(sqlite_url, mturk, "create", "--live", "--yes") == 0
    reqs = next(p["QualificationRequirements"] for op, p in mturk.sent if op == "CreateHITType")
    assert {"QualificationTypeId": "2F1QJWKUDD8XADTFD2Q0G6UTO95ALH", "Comparator": "Exists",
            "ActionsGuarded": "DiscoverPreviewAndAccept"} in reqs
    hits, _ = rows(sqlite_url)
    assert all(not h.sandbox for h in hits)
    engine = make_engine(sqlite_url)
    with Session(engine) as s:
        assert s.scalars(select(MTurkQualification.sandbox)).all() == [False]
    engine.dispose()


def test_cost_shows_rewards_and_fees_before_anything_is_created(study_db, mturk, capsys):
    _, url = study_db
    assert run(url, mturk, "cost", "--assignments", "10") == 0
    out = capsys.readouterr().out
    assert "10 assignments in 2 HIT(s)" in out and "MTurk fees: 10 x $0.24 = $2.40" in out and "total: $14.40" in out
    assert not mturk.sent

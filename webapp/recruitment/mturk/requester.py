"""The requester's operations on MTurk, each a function of a ``Context``.

Nothing here prints to stdout in a dry run except the calls themselves (one JSON
object per line, from ``Calls``); notes for the researcher go to ``ctx.say``.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.data.tables import MTurkAssignment, MTurkHIT, MTurkQualification, Pair, Participant, Study, Trial, utcnow
from webapp.recruitment.mturk.calls import Calls, DryRun, MTurkError
from webapp.settings import LIVE_QUALIFICATIONS, SANDBOX_QUALIFICATIONS, crowd_settings

MAX_PER_HIT = 9  # 10+ assignments: 20% extra commission, and a HIT cannot grow from 9 to 10
EXTERNAL_QUESTION_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"
QUAL_APPROVAL_RATE = "000000000000000000L0"
QUAL_APPROVED_HITS = "00000000000000000040"
QUAL_LOCALE = "00000000000000000071"
QUAL_MASTERS = {True: "2ARFPLSP75KLA8M8DH1HTEQVJT3SY6", False: "2F1QJWKUDD8XADTFD2Q0G6UTO95ALH"}  # sandbox, live
COMMISSION = Decimal("0.20")
MASTERS_FEE = Decimal("0.05")
MIN_COMMISSION = Decimal("0.01")
CENT = Decimal("0.01")
EXPIRED = datetime(2015, 1, 1, tzinfo=timezone.utc)  # a date in the past expires a HIT now


@dataclass
class Context:
    session: Session
    study: Study
    sandbox: bool
    reader: Calls  # read-only calls (list, get)
    writer: Calls  # calls that change something on MTurk
    say: Callable[[str], None]
    confirm: Callable[[str], bool] = lambda text: True
    cfg: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cfg = crowd_settings(self.study.settings, "mturk")

    @property
    def mode(self) -> str:
        return "sandbox" if self.sandbox else "live"

    def hits(self, hit_id: str | None = None) -> list[MTurkHIT]:
        q = select(MTurkHIT).filter_by(study_pk=self.study.id, sandbox=self.sandbox).order_by(MTurkHIT.id)
        rows = [h for h in self.session.scalars(q) if h.hit_id and h.deleted_at is None]
        if hit_id is not None:
            rows = [h for h in rows if h.hit_id == hit_id]
            if not rows:
                raise MTurkError(f"HIT {hit_id} is not one of study {self.study.study_id}'s {self.mode} HITs")
        return rows

    def commit(self) -> None:
        if not self.writer.dry_run or not self.reader.dry_run:
            self.session.commit()


def money(x: Decimal) -> str:
    return str(x.quantize(CENT, ROUND_HALF_UP))


# --------------------------------------------------------------------------- planning


def batch_sizes(assignments: int) -> list[int]:
    """HIT sizes of at most 9 assignments each, e.g. 20 -> [9, 9, 2]."""
    full, rest = divmod(assignments, MAX_PER_HIT)
    return [MAX_PER_HIT] * full + ([rest] if rest else [])


@dataclass(frozen=True)
class CostEstimate:
    assignments: int
    hits: int
    reward: Decimal
    fee_per_assignment: Decimal
    rewards: Decimal
    fees: Decimal

    @property
    def total(self) -> Decimal:
        return self.rewards + self.fees

    def lines(self) -> list[str]:
        return [
            f"{self.assignments} assignments in {self.hits} HIT(s) of at most {MAX_PER_HIT}",
            f"rewards: {self.assignments} x ${money(self.reward)} = ${money(self.rewards)}",
            f"MTurk fees: {self.assignments} x ${money(self.fee_per_assignment)} = ${money(self.fees)}",
            f"total: ${money(self.total)}",
        ]


def fee_for(amount: Decimal, masters: bool) -> Decimal:
    """MTurk's commission on one payment (HITs of <= 9 assignments): 20%, at least $0.01, +5% for Masters."""
    fee = max(MIN_COMMISSION, (amount * COMMISSION).quantize(CENT, ROUND_HALF_UP))
    if masters:
        fee += (amount * MASTERS_FEE).quantize(CENT, ROUND_HALF_UP)
    return fee


def estimate(assignments: int, reward: str, masters: bool) -> CostEstimate:
    r = Decimal(reward)
    fee = fee_for(r, masters)
    return CostEstimate(assignments, len(batch_sizes(assignments)), r, fee, r * assignments, fee * assignments)


def default_assignments(session: Session, study: Study) -> int:
    """Enough participants for ``ratings_per_pair`` judgments of every (non-check) pair."""
    pairs = session.scalar(select(func.count(Pair.id)).filter_by(study_pk=study.id, is_attention_check=False)) or 0
    a = study.settings["assignment"]
    return max(1, math.ceil(pairs * a["ratings_per_pair"] / a["pairs_per_participant"]))


def planned_assignments(ctx: Context, wanted: int | None) -> int:
    return wanted or ctx.cfg["assignments"] or default_assignments(ctx.session, ctx.study)


def external_url(base: str, study_id: str) -> str:
    """The survey's MTurk entry point under ``base``; only HTTPS is accepted (MTurk requires it)."""
    parts = urlsplit(base or "")
    if parts.scheme != "https" or not parts.netloc:
        raise MTurkError(
            f"the survey URL must be a public https:// URL (MTurk shows only HTTPS pages), got {base!r}: "
            "set [mturk] public_url in study.toml or pass --url https://your.host"
        )
    return f"{base.rstrip('/')}/mturk/?study={quote(study_id)}"


def external_question(url: str, frame_height: int) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}">'
        f"<ExternalURL>{escape(url)}</ExternalURL>"
        f"<FrameHeight>{frame_height}</FrameHeight>"
        "</ExternalQuestion>"
    )


def qualification_requirements(cfg: dict[str, Any], sandbox: bool, excluded: list[Any]) -> list[dict[str, Any]]:
    defaults = SANDBOX_QUALIFICATIONS if sandbox else LIVE_QUALIFICATIONS
    cfg = {**cfg, **{k: v for k, v in defaults.items() if cfg.get(k) is None}}
    reqs: list[dict[str, Any]] = []
    guard = "DiscoverPreviewAndAccept"
    if cfg["min_approval_rate"]:
        reqs.append({"QualificationTypeId": QUAL_APPROVAL_RATE, "Comparator": "GreaterThanOrEqualTo",
                     "IntegerValues": [cfg["min_approval_rate"]], "ActionsGuarded": guard})
    if cfg["min_approved_hits"]:
        reqs.append({"QualificationTypeId": QUAL_APPROVED_HITS, "Comparator": "GreaterThanOrEqualTo",
                     "IntegerValues": [cfg["min_approved_hits"]], "ActionsGuarded": guard})
    if cfg["locales"]:
        locales = [dict(zip(("Country", "Subdivision"), loc.split("-", 1))) for loc in cfg["locales"]]
        reqs.append({"QualificationTypeId": QUAL_LOCALE, "Comparator": "In", "LocaleValues": locales,
                     "ActionsGuarded": guard})
    if cfg["masters"]:
        reqs.append({"QualificationTypeId": QUAL_MASTERS[sandbox], "Comparator": "Exists", "ActionsGuarded": guard})
    for qual in excluded:  # anyone holding one of these took part already: may look, may not accept
        reqs.append({"QualificationTypeId": str(qual), "Comparator": "DoesNotExist", "ActionsGuarded": "Accept"})
    return reqs


def request_token(study_id: str, sandbox: bool, batch: int, index: int) -> str:
    digest = hashlib.sha256(study_id.encode()).hexdigest()[:16]
    return f"camstudy-{digest}-{'sbx' if sandbox else 'live'}-b{batch}-h{index}"


# --------------------------------------------------------------------------- qualifications


def own_qualification(ctx: Context) -> Any:
    """The study's "took part" qualification type id, created on first use (DryRun in a dry run)."""
    row = ctx.session.scalar(select(MTurkQualification).filter_by(study_pk=ctx.study.id, sandbox=ctx.sandbox))
    if row is not None:
        return row.qualification_type_id
    resp = ctx.writer(
        "create_qualification_type",
        Name=f"camstudy {ctx.study.study_id} participant"[:200],
        Description=f"Took part in the study {ctx.study.study_id}; such workers cannot take it again.",
        Keywords="camstudy, participant",
        QualificationTypeStatus="Active",
    )
    if resp is None:
        return DryRun("QUALIFICATION-TYPE-ID")
    qid = resp["QualificationType"]["QualificationTypeId"]
    ctx.session.add(MTurkQualification(study_pk=ctx.study.id, sandbox=ctx.sandbox, qualification_type_id=qid))
    ctx.session.commit()
    return qid


def excluded_qualifications(ctx: Context) -> list[Any]:
    quals: list[Any] = [own_qualification(ctx)] if ctx.cfg["exclude_participants"] else []
    for other in ctx.cfg["exclude_studies"]:
        row = ctx.session.scalar(
            select(MTurkQualification).join(Study, MTurkQualification.study_pk == Study.id)
            .where(Study.study_id == other, MTurkQualification.sandbox == ctx.sandbox)
        )
        if row is None:
            raise MTurkError(
                f"[mturk] exclude_studies names {other!r}, which has no {ctx.mode} participant qualification in "
                "this database: import that study and run `camstudy mturk create` for it, or list its "
                "qualification type id in [mturk] exclude_qualification_ids"
            )
        quals.append(row.qualification_type_id)
    return quals + list(ctx.cfg["exclude_qualification_ids"])


def grant_exclusion(ctx: Context, rows: list[MTurkAssignment]) -> None:
    """Give each worker the study's qualification once, so they cannot accept its HITs again.

    Only workers MTurk itself listed with an assignment of the study's HITs (``rows``
    come from ListAssignmentsForHIT, never from the survey's own, typed, ids): a forged
    WorkerId in a survey URL can never earn someone the qualification."""
    if not ctx.cfg["exclude_participants"]:
        return
    pending = [a for a in rows if a.excluded_at is None]
    if not pending:
        return
    qual = own_qualification(ctx)
    for worker in sorted({a.worker_id for a in pending}):
        ctx.writer("associate_qualification_with_worker", QualificationTypeId=qual, WorkerId=worker,
                   IntegerValue=1, SendNotification=False)
    if not ctx.writer.dry_run:
        for a in pending:
            a.excluded_at = utcnow()
        ctx.session.commit()


# --------------------------------------------------------------------------- create


def create(ctx: Context, url: str | None, assignments: int | None) -> int:
    cfg = ctx.cfg
    sources = (ctx.study.settings.get("recruitment") or {}).get("sources") or ["lab"]
    if "mturk" not in sources:  # the survey would answer every worker "not open to this site"
        raise MTurkError(
            f"study {ctx.study.study_id} does not recruit on MTurk: [recruitment] sources = {sources!r} in its "
            "study.toml lacks \"mturk\". Add it, run `camstudy import <study dir>` again, then create the HITs.")
    question = external_question(external_url(url or cfg["public_url"], ctx.study.study_id), cfg["frame_height"])
    pending = [h for h in ctx.session.scalars(
        select(MTurkHIT).filter_by(study_pk=ctx.study.id, sandbox=ctx.sandbox, hit_id=None).order_by(MTurkHIT.id))]
    if pending:
        ctx.say(f"resuming {len(pending)} HIT(s) of batch {pending[0].batch} that were not confirmed by MTurk "
                "(same UniqueRequestToken: none is created twice)")
        sizes = [h.max_assignments for h in pending]
    else:
        sizes = batch_sizes(planned_assignments(ctx, assignments))
    cost = estimate(sum(sizes), cfg["reward"], cfg["masters"])
    for line in [f"{ctx.mode}: study {ctx.study.study_id}"] + cost.lines():
        ctx.say(line)
    if not ctx.confirm(f"Create {cost.hits} live HIT(s) for ${money(cost.total)} in total (rewards + fees)?"):
        ctx.say("nothing created")
        return 1
    requirements = qualification_requirements(cfg, ctx.sandbox, excluded_qualifications(ctx))
    grant_exclusion(ctx, list(ctx.session.scalars(
        select(MTurkAssignment).join(MTurkHIT).where(MTurkHIT.study_pk == ctx.study.id,
                                                     MTurkHIT.sandbox == ctx.sandbox))))
    resp = ctx.writer(
        "create_hit_type",
        AutoApprovalDelayInSeconds=cfg["auto_approval_delay_hours"] * 3600,
        AssignmentDurationInSeconds=cfg["assignment_duration_minutes"] * 60,
        Reward=cfg["reward"], Title=cfg["title"], Keywords=cfg["keywords"], Description=cfg["description"],
        QualificationRequirements=requirements,
    )
    hit_type = resp["HITTypeId"] if resp else DryRun("HIT-TYPE-ID")
    if not pending:
        last = ctx.session.scalar(select(func.max(MTurkHIT.batch)).filter_by(study_pk=ctx.study.id, sandbox=ctx.sandbox))
        batch = (last or 0) + 1
        pending = [MTurkHIT(study_pk=ctx.study.id, sandbox=ctx.sandbox, batch=batch, batch_index=i,
                            unique_request_token=request_token(ctx.study.study_id, ctx.sandbox, batch, i),
                            max_assignments=size, reward=cfg["reward"]) for i, size in enumerate(sizes)]
        if not ctx.writer.dry_run:  # the tokens are stored before any HIT is asked for
            ctx.session.add_all(pending)
            ctx.session.commit()
    for row in pending:
        params = dict(HITTypeId=hit_type, MaxAssignments=row.max_assignments,
                      LifetimeInSeconds=cfg["lifetime_hours"] * 3600, Question=question,
                      RequesterAnnotation=row.unique_request_token, UniqueRequestToken=row.unique_request_token)
        try:
            resp = ctx.writer("create_hit_with_hit_type", **params)
            hit = resp["HIT"] if resp else None
        except MTurkError as exc:
            if "UniqueRequestToken" not in str(exc):
                raise
            hit = find_hit_by_annotation(ctx, row.unique_request_token)  # an earlier try got through
            if hit is None:
                raise
        if hit is None:
            continue
        row.hit_id, row.hit_type_id, row.status = hit["HITId"], hit.get("HITTypeId", str(hit_type)), hit.get("HITStatus", "Assignable")
        row.expires_at = _naive(hit.get("Expiration"))
        ctx.session.commit()
        ctx.say(f"created HIT {row.hit_id} ({row.max_assignments} assignments)")
    if not ctx.writer.dry_run:
        preview = "https://workersandbox.mturk.com" if ctx.sandbox else "https://worker.mturk.com"
        ctx.say(f"workers find it at {preview}/projects/ (HIT type {hit_type})")
    return 0


def find_hit_by_annotation(ctx: Context, token: str) -> dict[str, Any] | None:
    next_token = None
    for _ in range(1000):  # bounded: 100 HITs a page
        kw = {"MaxResults": 100, **({"NextToken": next_token} if next_token else {})}
        resp = ctx.reader("list_hits", **kw)
        if resp is None:
            return None
        for hit in resp.get("HITs", []):
            if hit.get("RequesterAnnotation") == token:
                return hit
        next_token = resp.get("NextToken")
        if not next_token:
            return None
    return None


def _naive(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    return None


# --------------------------------------------------------------------------- list, status


def _hits_or_say_none(ctx: Context) -> list:
    """The study's HITs in this mode; says so when there are none yet."""
    rows = ctx.hits()
    if not rows:
        ctx.say(f"study {ctx.study.study_id} has no {ctx.mode} HITs yet (camstudy mturk create)")
    return rows


def list_hits(ctx: Context) -> int:
    rows = _hits_or_say_none(ctx)
    if not rows:
        return 0
    ctx.say(f"{'HIT':<32} {'status':<12} {'max':>4} {'available':>9} {'pending':>7} {'completed':>9}")
    for row in rows:
        resp = ctx.reader("get_hit", HITId=row.hit_id)
        if resp is None:
            continue
        hit = resp["HIT"]
        row.status = hit.get("HITStatus", row.status)
        row.expires_at = _naive(hit.get("Expiration")) or row.expires_at
        ctx.say(f"{row.hit_id:<32} {row.status:<12} {hit.get('MaxAssignments', row.max_assignments):>4} "
                f"{hit.get('NumberOfAssignmentsAvailable', 0):>9} {hit.get('NumberOfAssignmentsPending', 0):>7} "
                f"{hit.get('NumberOfAssignmentsCompleted', 0):>9}")
    ctx.commit()
    return 0


def sync_assignments(ctx: Context, row: MTurkHIT) -> list[MTurkAssignment]:
    """Store what MTurk reports about this HIT's assignments; returns the HIT's rows."""
    next_token = None
    for _ in range(100):  # bounded: 100 assignments a page, at most 9 per HIT
        kw = {"HITId": row.hit_id, "MaxResults": 100, **({"NextToken": next_token} if next_token else {})}
        resp = ctx.reader("list_assignments_for_hit", **kw)
        if resp is None:
            break
        for a in resp.get("Assignments", []):
            _store_assignment(ctx, row, a)
        next_token = resp.get("NextToken")
        if not next_token:
            break
    if not ctx.reader.dry_run:
        ctx.session.commit()
    return list(ctx.session.scalars(select(MTurkAssignment).filter_by(hit_pk=row.id).order_by(MTurkAssignment.id)))


def _store_assignment(ctx: Context, row: MTurkHIT, a: dict[str, Any]) -> None:
    stored = ctx.session.scalar(select(MTurkAssignment).filter_by(assignment_id=a["AssignmentId"]))
    if stored is None:
        stored = MTurkAssignment(hit_pk=row.id, assignment_id=a["AssignmentId"], worker_id=a["WorkerId"],
                                 status=a["AssignmentStatus"])
        ctx.session.add(stored)
    stored.status = a["AssignmentStatus"]
    stored.submitted_at = _naive(a.get("SubmitTime")) or stored.submitted_at
    stored.synced_at = utcnow()
    verify_participant(ctx, row, stored)


def verify_participant(ctx: Context, row: MTurkHIT, assignment: MTurkAssignment) -> None:
    """Tie the survey session claiming this assignment to MTurk's record of it.

    MTurk listed (AssignmentId, WorkerId) under this HIT: the participant with that
    WorkerId and claim is "verified" when the hitId they arrived with is this HIT
    ("rejected" otherwise). Sessions claiming assignments MTurk never lists stay
    "unverified": typed ids, or assignments returned before submission.
    """
    participant = ctx.session.scalar(select(Participant).filter_by(
        study_pk=ctx.study.id, source="mturk", participant_id=assignment.worker_id, claim=assignment.assignment_id))
    if participant is None:
        return
    matches = (participant.source_data or {}).get("hitId") == row.hit_id
    if participant.verification != ("verified" if matches else "rejected"):
        participant.verification, participant.verified_at = ("verified" if matches else "rejected"), utcnow()
    if matches:
        assignment.participant_pk = participant.id


def status(ctx: Context) -> int:
    rows = _hits_or_say_none(ctx)
    if not rows:
        return 0
    ctx.say(f"{'HIT':<32} {'status':<12} {'available':>9} {'pending':>7} {'submitted':>9} {'approved':>8} {'rejected':>8}")
    totals = [0, 0, 0, 0, 0]
    for row in rows:
        resp = ctx.reader("get_hit", HITId=row.hit_id)
        hit = resp["HIT"] if resp else {}
        row.status = hit.get("HITStatus", row.status)
        assignments = sync_assignments(ctx, row)
        counts = [hit.get("NumberOfAssignmentsAvailable", 0), hit.get("NumberOfAssignmentsPending", 0)] + [
            sum(1 for a in assignments if a.status == s) for s in ("Submitted", "Approved", "Rejected")]
        totals = [t + c for t, c in zip(totals, counts)]
        ctx.say(f"{row.hit_id:<32} {row.status:<12} " + " ".join(f"{c:>{w}}" for c, w in zip(counts, (9, 7, 9, 8, 8))))
    ctx.say(f"{'total':<45} " + " ".join(f"{c:>{w}}" for c, w in zip(totals, (9, 7, 9, 8, 8))))
    ctx.commit()
    return 0


# --------------------------------------------------------------------------- review


@dataclass(frozen=True)
class Decision:
    assignment: MTurkAssignment
    action: str  # "approve", "reject" or "hold"
    reason: str


def decide(session: Session, a: MTurkAssignment, min_correct: float, reject: bool) -> Decision:
    """Approve a finished survey whose attention checks passed; otherwise reject (only if asked) or hold."""
    p = session.get(Participant, a.participant_pk) if a.participant_pk else None
    problem = None
    if p is None:
        problem = "no survey data for this assignment"
    elif p.completed_at is None:
        problem = "did not finish the survey"
    else:
        checks = [r.attention_correct for t in session.scalars(
            select(Trial).filter_by(participant_pk=p.id, is_attention_check=True, is_practice=False))
            for r in t.responses if r.attention_correct is not None]
        share = sum(checks) / len(checks) if checks else 1.0
        if share + 1e-9 < min_correct:
            problem = f"attention checks {sum(checks)}/{len(checks)} correct (needs {min_correct:.0%})"
        else:
            return Decision(a, "approve", f"finished; attention checks {sum(checks)}/{len(checks)} correct")
    return Decision(a, "reject" if reject else "hold", problem)


def review(ctx: Context, reject_message: str | None) -> int:
    decisions: list[Decision] = []
    seen: list[MTurkAssignment] = []
    for row in ctx.hits():
        assignments = sync_assignments(ctx, row)
        seen += assignments
        for a in assignments:
            if a.status == "Submitted":
                decisions.append(decide(ctx.session, a, ctx.cfg["min_attention_correct"], reject_message is not None))
    if not decisions:
        ctx.say("no submitted assignments to review")
    unverified = ctx.session.scalar(select(func.count(Participant.id)).where(
        Participant.study_pk == ctx.study.id, Participant.source == "mturk", Participant.verification != "verified"))
    if unverified:
        ctx.say(f"{unverified} survey session(s) claim assignments MTurk has not listed under the study's HITs "
                "(unverified: typed or forged ids, or not submitted yet); the report leaves them out")
    for d in decisions:
        ctx.say(f"{d.action:<8} {d.assignment.assignment_id} worker {d.assignment.worker_id}: {d.reason}")
    held = sum(1 for d in decisions if d.action == "hold")
    if held:
        ctx.say(f"{held} held: look at them, then reject with --reject --message TEXT or approve by hand; "
                f"MTurk approves them automatically after {ctx.cfg['auto_approval_delay_hours']} h")
    acting = [d for d in decisions if d.action != "hold"]
    if acting and not ctx.confirm(f"Approve {sum(d.action == 'approve' for d in acting)} and reject "
                                  f"{sum(d.action == 'reject' for d in acting)} live assignment(s)?"):
        return 1
    for d in acting:
        if d.action == "approve":
            ctx.writer("approve_assignment", AssignmentId=d.assignment.assignment_id,
                       RequesterFeedback="Thank you for taking part.")
        else:
            ctx.writer("reject_assignment", AssignmentId=d.assignment.assignment_id,
                       RequesterFeedback=reject_message or "")
        if not ctx.writer.dry_run:
            d.assignment.status = "Approved" if d.action == "approve" else "Rejected"
            d.assignment.reviewed_at = utcnow()
            ctx.session.commit()
    grant_exclusion(ctx, seen)
    if ctx.writer.dry_run and acting:
        ctx.say("dry run: nothing was sent; run again with --apply to send these")
    return 0


# --------------------------------------------------------------------------- bonus, expire, delete


def bonus(ctx: Context, assignment_id: str | None, all_approved: bool, amount: str, reason: str) -> int:
    q = select(MTurkAssignment).join(MTurkHIT).where(MTurkHIT.study_pk == ctx.study.id, MTurkHIT.sandbox == ctx.sandbox)
    if assignment_id:
        rows = list(ctx.session.scalars(q.where(MTurkAssignment.assignment_id == assignment_id)))
        if not rows:
            raise MTurkError(f"assignment {assignment_id} is not known for this study ({ctx.mode}): "
                             "run `camstudy mturk status` first")
    elif all_approved:
        rows = list(ctx.session.scalars(q.where(MTurkAssignment.status == "Approved").order_by(MTurkAssignment.id)))
    else:
        raise MTurkError("say whom to pay: --assignment ID or --all-approved")
    todo = [a for a in rows if a.bonus_sent_at is None]
    for a in rows:
        if a.bonus_sent_at is not None:
            ctx.say(f"{a.assignment_id}: bonus ${a.bonus_amount} already paid on {a.bonus_sent_at:%Y-%m-%d}")
    if not todo:
        return 0
    value = Decimal(amount)
    total = (value + fee_for(value, False)) * len(todo)
    ctx.say(f"bonus ${money(value)} to {len(todo)} worker(s): ${money(total)} with MTurk fees")
    if not ctx.confirm(f"Pay ${money(total)} in live bonuses?"):
        return 1
    for a in todo:
        token = f"camstudy-bonus-{a.assignment_id}"[:64]  # one bonus per assignment, whatever happens
        try:
            ctx.writer("send_bonus", WorkerId=a.worker_id, BonusAmount=money(value), AssignmentId=a.assignment_id,
                       Reason=reason, UniqueRequestToken=token)
        except MTurkError as exc:
            if "UniqueRequestToken" not in str(exc):
                raise
            ctx.say(f"{a.assignment_id}: MTurk already has this bonus (same token); recorded as paid")
        if not ctx.writer.dry_run:
            a.bonus_amount, a.bonus_sent_at = money(value), utcnow()
            ctx.session.commit()
    return 0


def expire(ctx: Context, hit_id: str | None) -> int:
    rows = ctx.hits(hit_id)
    if not ctx.confirm(f"Expire {len(rows)} live HIT(s)?"):
        return 1
    for row in rows:
        ctx.writer("update_expiration_for_hit", HITId=row.hit_id, ExpireAt=EXPIRED)
        if not ctx.writer.dry_run:
            row.expires_at = utcnow()
            ctx.session.commit()
            ctx.say(f"expired HIT {row.hit_id}")
    return 0


def delete(ctx: Context, hit_id: str | None) -> int:
    rows = ctx.hits(hit_id)
    if not ctx.confirm(f"Delete {len(rows)} live HIT(s)?"):
        return 1
    failed = 0
    for row in rows:
        try:
            ctx.writer("delete_hit", HITId=row.hit_id)
        except MTurkError as exc:
            failed += 1
            ctx.say(f"HIT {row.hit_id}: {exc} (a HIT can be deleted once it has expired and every "
                    "assignment is approved or rejected: camstudy mturk expire, then review)")
            continue
        if not ctx.writer.dry_run:
            row.deleted_at, row.status = utcnow(), "Disposed"
            ctx.session.commit()
            ctx.say(f"deleted HIT {row.hit_id}")
    return 1 if failed else 0


def balance(ctx: Context) -> int:
    resp = ctx.reader("get_account_balance")
    if resp is not None:
        ctx.say(f"{ctx.mode} balance: ${resp.get('AvailableBalance', '?')}")
    return 0


def cost(ctx: Context, assignments: int | None) -> int:
    cfg = ctx.cfg
    est = estimate(planned_assignments(ctx, assignments), cfg["reward"], cfg["masters"])
    ctx.say(f"study {ctx.study.study_id}, reward ${cfg['reward']}" + (", Masters" if cfg["masters"] else ""))
    for line in est.lines():
        ctx.say(line)
    return 0

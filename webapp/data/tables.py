"""The survey database's tables: typed SQLAlchemy 2.0 models (the engine and the
per-request session are in ``webapp.data.engine``).

The schema is owned by Alembic (``migrations/`` at the repository root); these models
are its source of truth for autogenerate. Rules that matter for the data live in the
schema itself: one response per participant + trial + question, one trial per
participant + image, sides and sources restricted by CHECK constraints.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from webapp import SIM_PREFIX

# Stable constraint names: Alembic needs them to alter constraints later (SQLite batch mode).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SOURCES = ("lab", "mturk", "prolific")
SIDES = ("A", "B", "same")
# Whether the recruitment platform confirmed who a participant is (docs/formats.md):
# lab participants need no platform; a crowd participant is "unverified" until the
# platform's own record (MTurk assignment, Prolific submission) matched their ids, and
# "rejected" when it contradicted them (a forged or foreign id).
VERIFICATIONS = ("not_required", "unverified", "verified", "rejected")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: sa.JSON, list[Any]: sa.JSON}


class Study(Base):
    """One imported study directory (its manifest.json, frozen at import)."""

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[str] = mapped_column(sa.String(100), unique=True)
    manifest_sha256: Mapped[str] = mapped_column(sa.String(64))
    manifest: Mapped[dict[str, Any]]
    # The webapp's own sections of study.toml, validated: {"survey":…, "assignment":…, "recruitment":…}
    settings: Mapped[dict[str, Any]]
    study_dir: Mapped[str] = mapped_column(sa.String(1000))
    seed: Mapped[int] = mapped_column(sa.BigInteger)
    # Bumped at the start of every allocation: the atomic UPDATE serialises allocations
    # of one study (row lock on PostgreSQL, write lock on SQLite) and numbers participants.
    allocation_serial: Mapped[int] = mapped_column(sa.Integer, default=0)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    pairs: Mapped[list[Pair]] = relationship(back_populates="study", order_by="Pair.id")


class Stimulus(Base):
    """An image file of the study, served under an opaque content-derived name."""

    __tablename__ = "stimuli"
    __table_args__ = (sa.UniqueConstraint("study_pk", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(sa.ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))  # public: sha256 prefix, no method in it
    file: Mapped[str] = mapped_column(sa.String(500))  # relative to the study dir
    sha256: Mapped[str] = mapped_column(sa.String(64))
    url: Mapped[str | None] = mapped_column(sa.String(2000))  # public S3/CDN URL, if any


class Pair(Base):
    """A manifest pair: two overlays of one image (or an attention check)."""

    __tablename__ = "pairs"
    __table_args__ = (
        sa.UniqueConstraint("study_pk", "pair_id"),
        sa.CheckConstraint(
            "is_attention_check OR (a_method IS NOT NULL AND b_method IS NOT NULL)",
            name="methods_unless_attention",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(sa.ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    pair_id: Mapped[str] = mapped_column(sa.String(100))
    image_id: Mapped[str] = mapped_column(sa.String(200))
    class_index: Mapped[int | None]
    class_name: Mapped[str | None] = mapped_column(sa.String(200))
    is_attention_check: Mapped[bool] = mapped_column(default=False)
    expected: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    original_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("stimuli.id"))
    a_pk: Mapped[int] = mapped_column(sa.ForeignKey("stimuli.id"))
    b_pk: Mapped[int] = mapped_column(sa.ForeignKey("stimuli.id"))
    a_method: Mapped[str | None] = mapped_column(sa.String(50))
    b_method: Mapped[str | None] = mapped_column(sa.String(50))

    study: Mapped[Study] = relationship(back_populates="pairs")
    original: Mapped[Stimulus | None] = relationship(foreign_keys=[original_pk])
    a: Mapped[Stimulus] = relationship(foreign_keys=[a_pk])
    b: Mapped[Stimulus] = relationship(foreign_keys=[b_pk])


class Participant(Base):
    """A person taking the survey, from one recruitment source."""

    __tablename__ = "participants"
    __table_args__ = (
        # One participant per platform claim: a WorkerId with each assignmentId (a
        # PROLIFIC_PID with each SESSION_ID) is its own row, so that a forged assignment
        # for someone's WorkerId never finds, reveals or blocks that worker's session.
        sa.UniqueConstraint("study_pk", "source", "participant_id", "claim"),
        sa.CheckConstraint(f"source IN {SOURCES!r}", name="source"),
        sa.CheckConstraint(f"verification IN {VERIFICATIONS!r}", name="verification"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(sa.ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[str] = mapped_column(sa.String(200))  # exported; WorkerId for MTurk
    source: Mapped[str] = mapped_column(sa.String(20))
    source_data: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)  # e.g. assignmentId, hitId
    # The platform's id of this session: MTurk assignmentId, Prolific SESSION_ID ("" in the lab).
    claim: Mapped[str] = mapped_column(sa.String(100), default="", server_default="")
    verification: Mapped[str] = mapped_column(sa.String(16), default="not_required", server_default="not_required")
    verified_at: Mapped[datetime | None]  # when the platform's record was checked (either outcome)
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)  # secret, in the URL
    seed: Mapped[int | None] = mapped_column(sa.BigInteger)  # set at allocation
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    consented_at: Mapped[datetime | None]
    declined_at: Mapped[datetime | None]  # declined consent: no trials, no answers
    instructed_at: Mapped[datetime | None]
    allocated_at: Mapped[datetime | None]
    trials_done_at: Mapped[datetime | None]
    questionnaire: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    completed_at: Mapped[datetime | None]

    @hybrid_property
    def is_simulated(self) -> bool:
        """One of `camstudy simulate`'s participants (id prefix ``sim-``), not a person."""
        return self.participant_id.startswith(SIM_PREFIX)

    @is_simulated.inplace.expression
    @classmethod
    def _is_simulated_expression(cls) -> sa.ColumnElement[bool]:
        return cls.participant_id.startswith(SIM_PREFIX, autoescape=True)
    completion_code: Mapped[str] = mapped_column(sa.String(64))

    study: Mapped[Study] = relationship()
    trials: Mapped[list[Trial]] = relationship(
        back_populates="participant", order_by="Trial.trial_index"
    )


class Trial(Base):
    """One pair in one participant's sequence, with the sides as that participant saw them.

    ``trial_index`` is 0-based over the real trials; practice trials come first with
    negative indices (-2, -1). ``left_method``/``right_method`` record what Image A and
    Image B showed after counterbalancing (null for attention checks).
    """

    __tablename__ = "trials"
    __table_args__ = (
        sa.UniqueConstraint("participant_pk", "trial_index"),
        sa.UniqueConstraint("participant_pk", "image_id"),  # never the same image twice
        sa.CheckConstraint("is_practice = (trial_index < 0)", name="practice_first"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_pk: Mapped[int] = mapped_column(
        sa.ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    pair_pk: Mapped[int] = mapped_column(sa.ForeignKey("pairs.id"), index=True)
    image_id: Mapped[str] = mapped_column(sa.String(200))
    trial_index: Mapped[int]
    is_practice: Mapped[bool] = mapped_column(default=False)
    is_attention_check: Mapped[bool] = mapped_column(default=False)
    swapped: Mapped[bool] = mapped_column(default=False)  # manifest's B shown as Image A
    left_method: Mapped[str | None] = mapped_column(sa.String(50))
    right_method: Mapped[str | None] = mapped_column(sa.String(50))
    answered_at: Mapped[datetime | None]
    # Server-side timing: when the trial was first served as the participant's current
    # trial, and the milliseconds from then until its answer arrived (0 when an answer
    # came for a trial the server never served). Browser-reported rt_ms is only a hint.
    served_at: Mapped[datetime | None]
    server_ms: Mapped[int | None]

    participant: Mapped[Participant] = relationship(back_populates="trials")
    pair: Mapped[Pair] = relationship()
    responses: Mapped[list[Response]] = relationship(back_populates="trial", order_by="Response.id")


class Response(Base):
    """One answer to one question of one trial; written exactly once."""

    __tablename__ = "responses"
    __table_args__ = (
        sa.UniqueConstraint("participant_pk", "trial_pk", "question_id"),
        sa.CheckConstraint(f"response_side IN {SIDES!r}", name="side"),
        sa.CheckConstraint("rt_ms >= 0", name="rt_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_pk: Mapped[int] = mapped_column(
        sa.ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    trial_pk: Mapped[int] = mapped_column(sa.ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[str] = mapped_column(sa.String(50))
    response_side: Mapped[str] = mapped_column(sa.String(4))
    response_method: Mapped[str | None] = mapped_column(sa.String(50))
    attention_correct: Mapped[bool | None]
    rt_ms: Mapped[int]
    idempotency_key: Mapped[str] = mapped_column(sa.String(64))
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)

    trial: Mapped[Trial] = relationship(back_populates="responses")


class MTurkHIT(Base):
    """A HIT posted (or about to be posted) by ``camstudy mturk create``.

    The row is written with its ``unique_request_token`` before the call, so a retry
    after a crash or timeout reuses the token and MTurk never creates the HIT twice.
    """

    __tablename__ = "mturk_hits"
    __table_args__ = (sa.UniqueConstraint("unique_request_token"), sa.UniqueConstraint("hit_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(sa.ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    sandbox: Mapped[bool]
    batch: Mapped[int]  # the create run (1, 2, ...); HITs of one run share a HIT type
    batch_index: Mapped[int]
    unique_request_token: Mapped[str] = mapped_column(sa.String(64))
    hit_id: Mapped[str | None] = mapped_column(sa.String(64))  # null until MTurk answered
    hit_type_id: Mapped[str | None] = mapped_column(sa.String(64))
    max_assignments: Mapped[int]
    reward: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")  # MTurk's HITStatus once created
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]

    assignments: Mapped[list[MTurkAssignment]] = relationship(
        back_populates="hit", order_by="MTurkAssignment.id"
    )


class MTurkAssignment(Base):
    """An assignment of one of our HITs as MTurk last reported it, and what we did about it."""

    __tablename__ = "mturk_assignments"
    __table_args__ = (
        sa.UniqueConstraint("assignment_id"),
        sa.CheckConstraint("status IN ('Submitted', 'Approved', 'Rejected')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hit_pk: Mapped[int] = mapped_column(sa.ForeignKey("mturk_hits.id", ondelete="CASCADE"), index=True)
    assignment_id: Mapped[str] = mapped_column(sa.String(64))
    worker_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    status: Mapped[str] = mapped_column(sa.String(20))
    participant_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("participants.id", ondelete="SET NULL"))
    submitted_at: Mapped[datetime | None]
    reviewed_at: Mapped[datetime | None]
    bonus_amount: Mapped[str | None] = mapped_column(sa.String(16))
    bonus_sent_at: Mapped[datetime | None]
    excluded_at: Mapped[datetime | None]  # the study's "took part" qualification was granted
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)

    hit: Mapped[MTurkHIT] = relationship(back_populates="assignments")


class MTurkQualification(Base):
    """The custom qualification marking workers who took part in a study (per sandbox/live)."""

    __tablename__ = "mturk_qualifications"
    __table_args__ = (sa.UniqueConstraint("study_pk", "sandbox"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_pk: Mapped[int] = mapped_column(sa.ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    sandbox: Mapped[bool]
    qualification_type_id: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AdminSession(Base):
    """A researcher logged in to the admin area (webapp/admin/views.py).

    The session cookie carries a random nonce; only its hash is stored, with a keyed
    fingerprint of the credential it was opened with. Logging out deletes the row, so a
    copied cookie stops working; changing the admin token or password changes the
    fingerprint, so every session opened with the old one stops working.
    """

    __tablename__ = "admin_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    credential: Mapped[str] = mapped_column(sa.String(64))  # HMAC(SECRET_KEY, kind:credential)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

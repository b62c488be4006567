"""Recruitment sources: where a participant comes from (the lab, MTurk, Prolific).

The survey itself never asks which source a participant came from, except through
this interface: a source creates (or finds again) the participant when they arrive
and says what the completion page must add (an MTurk submit form, a Prolific
redirect). A new source is a subclass registered with ``register`` in its own module
(``lab``, ``prolific``, ``mturk.source``); its entry route lives in the ``recruit``
blueprint, which imports every source module; the ``participants.source`` column
records it.
"""
from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.data.tables import Participant, Study


class Source:
    name: str = ""
    # A crowd platform vouches for its participants: "unverified" until its record is checked.
    initial_verification: str = "not_required"

    def completion_context(self, participant: Participant) -> dict[str, Any]:
        """Extra template variables for the completion page (hand-back to the platform)."""
        return {}

    def frame_ancestors(self) -> str:
        """The CSP frame-ancestors this source's pages may be embedded in."""
        return "'none'"

    def form_action(self) -> str:
        """The CSP form-action of this source's pages (MTurk: its externalSubmit endpoint too)."""
        return "'self'"

    def find_or_create(
        self, session: Session, study: Study, participant_id: str, source_data: dict[str, Any] | None = None,
        claim: str = "",
    ) -> tuple[Participant, bool]:
        """The participant with this id and claim (the platform's session id: MTurk
        assignmentId, Prolific SESSION_ID) from this source, created if new. Commits.

        Safe against a double submit: the unique key (study, source, participant_id,
        claim) decides, and the loser of the race loads the winner's row.
        """
        query = select(Participant).filter_by(study_pk=study.id, source=self.name, participant_id=participant_id,
                                              claim=claim)
        found = session.scalar(query)
        if found is not None:
            return found, False
        participant = Participant(
            study_pk=study.id,
            participant_id=participant_id,
            source=self.name,
            source_data=source_data,
            claim=claim,
            verification=self.initial_verification,
            token=secrets.token_urlsafe(24),
            completion_code=secrets.token_hex(4).upper(),
        )
        session.add(participant)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return session.scalars(query).one(), False
        return participant, True


SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    SOURCES[source.name] = source
    return source


def get(name: str) -> Source:
    return SOURCES[name]

"""Prolific participants: ``PROLIFIC_PID`` is the participant id; at the end the browser
goes to the study's completion URL with its completion code (``[prolific]``).

Identity: the link must carry the configured ``[prolific] study_id``; each
(PROLIFIC_PID, SESSION_ID) is its own participant. With ``CAMSTUDY_PROLIFIC_TOKEN`` (an
API token of the researcher's workspace) the submission named by SESSION_ID is fetched
from Prolific's API at arrival: a record naming another participant or study refuses
the link, a matching one verifies the participant; no record (an error, a timeout)
leaves them "unverified", which keeps them out of the report's primary analysis.
"""
from __future__ import annotations

import os
from typing import Any

from webapp.data.tables import Participant
from webapp.recruitment.sources import Source, register
from webapp.settings import crowd_settings


TOKEN_ENV = "CAMSTUDY_PROLIFIC_TOKEN"
API_ENV = "CAMSTUDY_PROLIFIC_API"  # another base URL (a test server on loopback)
DEFAULT_API = "https://api.prolific.com"
TIMEOUT_S = 5


def check_submission(session_id: str, participant_id: str, study_id: str) -> str | None:
    """"verified" / "rejected" by Prolific's record of the submission, None when not asked
    (no token) or Prolific gave no record."""
    import requests
    from flask import current_app

    token = current_app.config.get(TOKEN_ENV) or os.environ.get(TOKEN_ENV)
    if not token:
        return None
    base = (current_app.config.get(API_ENV) or os.environ.get(API_ENV) or DEFAULT_API).rstrip("/")
    try:
        resp = requests.get(f"{base}/api/v1/submissions/{session_id}/", timeout=TIMEOUT_S,
                            headers={"Authorization": f"Token {token}"})
        record = resp.json() if resp.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    who = record.get("participant") or record.get("participant_id")
    return "verified" if who == participant_id and record.get("study_id") == study_id else "rejected"


def recheck(participant: Participant) -> None:
    """At the completion page, ask again for a participant Prolific gave no record of at
    arrival (a timeout, an outage): the submission exists by now."""
    if participant.verification != "unverified" or not participant.claim:
        return
    data = participant.source_data or {}
    verdict = check_submission(participant.claim, participant.participant_id, data.get("STUDY_ID", ""))
    if verdict is not None:
        from webapp.data.engine import db
        from webapp.data.tables import utcnow

        participant.verification, participant.verified_at = verdict, utcnow()
        db.session.commit()


class ProlificSource(Source):
    name = "prolific"
    initial_verification = "unverified"

    def completion_context(self, participant: Participant) -> dict[str, Any]:
        recheck(participant)
        cfg = crowd_settings(participant.study.settings, "prolific")
        if not cfg["completion_code"]:
            return {}
        url = cfg["completion_url"].replace("{code}", cfg["completion_code"])
        return {"handoff_template": "recruit/prolific_return.html", "handoff_redirect": url}


register(ProlificSource())

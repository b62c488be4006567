"""MTurk workers as participants: the survey inside the MTurk worker site's frame.

MTurk opens the ExternalQuestion URL with ``assignmentId``, ``hitId``, ``workerId`` and
``turkSubmitTo``; ``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE`` means the worker is only
previewing. The participant id is the WorkerId (one participant per worker and study);
the assignment and the submit origin are kept in ``participants.source_data``.
"""
from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_app_context

from webapp.data.tables import Participant
from webapp.recruitment.sources import Source, register
from webapp.settings import crowd_settings

PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
ID_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
# The MTurk worker sites (live, sandbox, and the classic site that still hosts externalSubmit).
DEFAULT_WORKER_ORIGINS = ("https://worker.mturk.com", "https://workersandbox.mturk.com", "https://www.mturk.com")
ORIGINS_CONFIG = "CAMSTUDY_MTURK_WORKER_ORIGINS"


def worker_origins() -> tuple[str, ...]:
    """Origins that may frame the survey and receive its submit form: config, env, else MTurk's."""
    value = current_app.config.get(ORIGINS_CONFIG) if has_app_context() else None
    value = value or os.environ.get(ORIGINS_CONFIG)
    if not value:
        return DEFAULT_WORKER_ORIGINS
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return tuple(v.rstrip("/") for v in value)


def origin_of(url: str) -> str | None:
    parts = urlsplit(url or "")
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def allowed_submit_to(turk_submit_to: str) -> bool:
    """``turkSubmitTo`` comes from the URL: only a worker site may receive the form."""
    return origin_of(turk_submit_to) in worker_origins()


class MTurkSource(Source):
    name = "mturk"
    initial_verification = "unverified"

    def frame_ancestors(self) -> str:
        return " ".join(worker_origins())

    def form_action(self) -> str:
        return "'self' " + " ".join(worker_origins())

    def completion_context(self, participant: Participant) -> dict[str, Any]:
        data = participant.source_data or {}
        submit_to = data.get("turkSubmitTo", "")
        if not allowed_submit_to(submit_to):  # stored from a checked URL; checked again all the same
            return {}
        return {
            "handoff_template": "recruit/mturk_submit.html",
            "mturk_action": origin_of(submit_to) + "/mturk/externalSubmit",
            "mturk_assignment_id": data.get("assignmentId", ""),
        }


def excluded_study_ids(study_settings: dict[str, Any]) -> list[str]:
    return list(crowd_settings(study_settings, "mturk")["exclude_studies"])


register(MTurkSource())

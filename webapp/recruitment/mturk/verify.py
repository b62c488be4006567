"""An MTurk worker's claim checked against the requester API when a session starts.

The worker site opens the survey with ``assignmentId``, ``hitId`` and ``workerId`` in the
URL: anyone can type those. With ``CAMSTUDY_MTURK_VERIFY=1`` (and AWS credentials in the
standard chain, or ``CAMSTUDY_MTURK_PROFILE``) the server asks MTurk for the assignment
(GetAssignment) before it starts a session: a record naming another worker or HIT
refuses the claim; a matching record verifies the participant; no answer (MTurk may not
show an assignment before it is submitted, or is unreachable) leaves the participant
"unverified", to be verified by ``camstudy mturk review``, which reads the HITs' own
assignment lists. An unverified participant never locks anyone out and is left out of
the report's primary analysis.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Callable

from flask import current_app

from webapp.recruitment.mturk.source import origin_of

VERIFY_CONFIG = "CAMSTUDY_MTURK_VERIFY"
# Tests (and embedders) may set a callable ``sandbox -> boto3 mturk client`` here.
CLIENT_FACTORY_CONFIG = "CAMSTUDY_MTURK_CLIENT_FACTORY"
SANDBOX_ORIGIN = "https://workersandbox.mturk.com"
_lock = threading.Lock()


def enabled() -> bool:
    value = current_app.config.get(VERIFY_CONFIG, os.environ.get(VERIFY_CONFIG, ""))
    return str(value).lower() in ("1", "true", "yes", "on")


def _default_factory(sandbox: bool) -> Any:
    from webapp.recruitment.mturk.calls import make_client

    # Short timeouts: a worker is waiting on this request.
    return make_client(sandbox, os.environ.get("CAMSTUDY_MTURK_PROFILE"), timeouts=(3, 5))


def client(sandbox: bool) -> Any:
    """One client per app and marketplace (boto3 clients are thread-safe once built)."""
    factory: Callable[[bool], Any] = current_app.config.get(CLIENT_FACTORY_CONFIG) or _default_factory
    clients = current_app.extensions.setdefault("camstudy_mturk_clients", {})
    with _lock:
        if sandbox not in clients:
            clients[sandbox] = factory(sandbox)
        return clients[sandbox]


def is_sandbox(recorded_sandbox: bool | None, turk_submit_to: str) -> bool:
    """The marketplace of a HIT: as recorded by `camstudy mturk create`, else from the worker site."""
    if recorded_sandbox is not None:
        return recorded_sandbox
    return origin_of(turk_submit_to) == SANDBOX_ORIGIN


def check_assignment(sandbox: bool, assignment_id: str, worker_id: str, hit_id: str) -> str | None:
    """"verified" when MTurk's record of the assignment names this worker and HIT,
    "rejected" when it names another, None when MTurk gave no record (or no client
    could be made: a missing profile, no credentials; logged, the worker goes on)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        resp = client(sandbox).get_assignment(AssignmentId=assignment_id)
    except (ClientError, BotoCoreError) as exc:
        current_app.logger.warning("MTurk get_assignment(%s) gave no record: %s", assignment_id, exc)
        return None
    record = resp.get("Assignment") or {}
    if record.get("WorkerId") == worker_id and record.get("HITId") == hit_id:
        return "verified"
    return "rejected"

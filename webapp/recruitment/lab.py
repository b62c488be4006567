"""The lab source: participants started by a researcher at ``/lab`` (named or anonymous
kiosk sessions); the route is in the ``recruit`` blueprint.
"""
from __future__ import annotations

from typing import Any

from webapp.data.engine import db
from webapp.data.tables import Participant
from webapp.recruitment.sources import Source, register
from webapp.survey.study_cache import study_info


class LabSource(Source):
    """Participants started by a researcher at /lab (named or anonymous kiosk sessions)."""

    name = "lab"

    def completion_context(self, participant: Participant) -> dict[str, Any]:
        kiosk = study_info(db.session, participant.study_pk).settings.recruitment["lab_mode"] == "kiosk"
        return {"lab_kiosk": kiosk}


register(LabSource())

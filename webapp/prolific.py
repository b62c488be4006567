"""Prolific participants: ``PROLIFIC_PID`` is the participant id; at the end the browser
goes to the study's completion URL with its completion code (``[prolific]``)."""
from __future__ import annotations

from typing import Any

from webapp.crowd_settings import crowd_settings
from webapp.db import Participant
from webapp.sources import Source, register


class ProlificSource(Source):
    name = "prolific"

    def completion_context(self, participant: Participant) -> dict[str, Any]:
        cfg = crowd_settings(participant.study.settings, "prolific")
        if not cfg["completion_code"]:
            return {}
        url = cfg["completion_url"].replace("{code}", cfg["completion_code"])
        return {"handoff_template": "recruit/prolific_return.html", "handoff_redirect": url}


register(ProlificSource())

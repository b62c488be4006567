"""The ``[mturk]`` and ``[prolific]`` sections of study.toml, validated.

Like ``webapp.settings``: every key has a default; an unknown key or a value of the
wrong kind is an error naming the file, the section, the key and what was expected.
``camstudy import`` stores the validated sections with the study (``studies.settings``),
so the worker pages and ``camstudy mturk`` read the same values.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from webapp.settings import _BOOL, Check, SettingsError, _int, _str, read_toml, validate_sections

_MONEY: tuple[str, Check] = (
    'an amount in US dollars as a string with two decimals, e.g. "1.50"',
    lambda v: isinstance(v, str) and re.fullmatch(r"\d{1,4}\.\d{2}", v) is not None and float(v) >= 0.01,
)
_HTTPS_URL: tuple[str, Check] = (
    'an https:// URL (or "" to pass --url to camstudy mturk create)',
    lambda v: isinstance(v, str) and (v == "" or re.fullmatch(r"https://[^\s/?#]+(/[^\s?#]*)?", v) is not None),
)
_LOCALES: tuple[str, Check] = (
    'a list of country codes, optionally with a subdivision, e.g. ["US", "CA", "US-NY"]',
    lambda v: isinstance(v, list) and all(isinstance(x, str) and re.fullmatch(r"[A-Z]{2}(-[A-Z0-9]{1,3})?", x) for x in v),
)
_IDS: tuple[str, Check] = (
    "a list of strings",
    lambda v: isinstance(v, list) and all(isinstance(x, str) and 0 < len(x) <= 100 for x in v),
)
_FRACTION: tuple[str, Check] = (
    "a number from 0 to 1",
    lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1,
)
_COMPLETION_URL: tuple[str, Check] = (
    "an https:// URL containing {code}",
    lambda v: isinstance(v, str) and v.startswith("https://") and "{code}" in v,
)

SCHEMA: dict[str, dict[str, tuple[Any, tuple[str, Check]]]] = {
    "mturk": {
        "title": ("Compare pairs of explanation images", _str(128)),
        "description": ("Look at pairs of heat-map images and say which highlights a larger area "
                        "and which is more focused.", _str(2000)),
        "keywords": ("image, comparison, survey, research", _str(1000)),
        "reward": ("1.50", _MONEY),
        "assignments": (0, _int(0, 100_000)),  # 0: enough for ratings_per_pair on every pair
        "assignment_duration_minutes": (60, _int(1, 7 * 24 * 60)),
        "lifetime_hours": (72, _int(1, 365 * 24)),
        "auto_approval_delay_hours": (72, _int(0, 30 * 24)),
        "frame_height": (800, _int(0, 10_000)),  # 0: MTurk sizes the frame to the window
        "public_url": ("", _HTTPS_URL),
        "min_approval_rate": (95, _int(0, 100)),  # 0: no requirement
        "min_approved_hits": (100, _int(0)),  # 0: no requirement
        "locales": (["US"], _LOCALES),  # []: anywhere
        "masters": (False, _BOOL),
        "exclude_participants": (True, _BOOL),
        "exclude_studies": ([], _IDS),
        "exclude_qualification_ids": ([], _IDS),
        "min_attention_correct": (1.0, _FRACTION),
    },
    "prolific": {
        "completion_code": ("", _str(100)),
        "completion_url": ("https://app.prolific.com/submissions/complete?cc={code}", _COMPLETION_URL),
        "study_id": ("", _str(100)),  # required with the prolific source: links must carry it
    },
}


def parse_crowd_sections(doc: dict[str, Any], filename: str) -> dict[str, dict[str, Any]]:
    """Validate ``[mturk]`` and ``[prolific]`` of a parsed study.toml, with defaults filled in."""
    out = validate_sections(doc, SCHEMA, filename)
    sources = (doc.get("recruitment") or {}).get("sources") or []
    if "prolific" in sources and not out["prolific"]["completion_code"]:
        raise SettingsError(
            f"{filename}: [prolific] completion_code must be set (the code Prolific shows in the study's "
            'completion settings) when [recruitment] sources includes "prolific"'
        )
    if "prolific" in sources and not out["prolific"]["study_id"]:
        raise SettingsError(
            f"{filename}: [prolific] study_id must be set (the study's id on Prolific; links with any "
            'other STUDY_ID are refused) when [recruitment] sources includes "prolific"'
        )
    return out


def load_crowd_sections(path: Path) -> dict[str, dict[str, Any]]:
    return parse_crowd_sections(read_toml(path), str(path))


def crowd_settings(stored: dict[str, Any], section: str) -> dict[str, Any]:
    """A section from ``studies.settings`` (defaults if the study was imported before it existed)."""
    return parse_crowd_sections({section: stored.get(section, {})}, "<database>")[section]

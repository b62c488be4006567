"""The webapp's own sections of study.toml: ``[survey]``, ``[assignment]``, ``[recruitment]``.

Every key has a default; an unknown key or a value of the wrong kind is an error that
names the file, the section, the key and what was expected. Sections owned by other
packages (``[model]``, ``[images]``, ``[render]``, ``[pairs]``, ``[analysis]``) and the
MTurk/Prolific sections are left alone here.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

DEFAULT_QUESTIONS = {
    "larger": "Which explanation highlights a larger area?",
    "focused": "Which explanation is more focused?",
}

DEFAULT_CONSENT = (
    "You are invited to take part in a study about how people perceive explanation "
    "images produced by computer vision models. You will see pairs of images and answer "
    "short questions about them. It takes about 10 minutes. Taking part is voluntary; you "
    "may stop at any time. Your answers are stored without your name."
)
DEFAULT_INSTRUCTIONS = (
    "Each screen shows a photo and two explanation images, Image A on the left and Image B "
    "on the right. The coloured areas show what a computer model paid attention to. "
    "Answer each question by choosing Image A, Image B or, if offered, About the same. "
    "There are no right or wrong answers: go with your first impression."
)
DEFAULT_THANKS = "Thank you for taking part. Your answers have been saved."
DEFAULT_CONTACT = (
    "Questions about this study? The researcher has not added contact details yet "
    "(researchers: set [survey] contact_text in study.toml)."
)
# What the default questions mean, shown beside illustrations on the instructions page
DEFAULT_DEFINITIONS = {
    "larger": "The strongly coloured area (colours near the right end of the scale) covers more of the "
              "image. Compare how much of each image is strongly coloured, wherever it is.",
    "focused": "The strong colour sits on one compact spot with clear edges, instead of being spread over "
               "several places or fading out slowly into its surroundings.",
}


class SettingsError(ValueError):
    """A webapp section of study.toml is malformed."""


# key -> (default, validator description, validator)
Check = Callable[[Any], bool]


def _int(lo: int, hi: int | None = None) -> tuple[str, Check]:
    what = f"an integer >= {lo}" + (f" and <= {hi}" if hi is not None else "")
    return what, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo and (
        hi is None or v <= hi
    )


def _str(max_len: int = 10_000) -> tuple[str, Check]:
    return "a string", lambda v: isinstance(v, str) and len(v) <= max_len


_BOOL: tuple[str, Check] = ("true or false", lambda v: isinstance(v, bool))
_QUESTIONS: tuple[str, Check] = (
    "a table of question id = question text, e.g. larger = \"Which ...?\"",
    lambda v: isinstance(v, dict)
    and all(isinstance(k, str) and re.fullmatch(r"[a-z][a-z0-9_]{0,49}", k) for k in v)
    and all(isinstance(t, str) and 0 < len(t) <= 300 for t in v.values()),
)
_DEFINITIONS: tuple[str, Check] = (
    "a table of question id = what the question means, e.g. larger = \"The coloured area ...\"",
    lambda v: isinstance(v, dict)
    and all(isinstance(k, str) and re.fullmatch(r"[a-z][a-z0-9_]{0,49}", k) for k in v)
    and all(isinstance(t, str) and 0 < len(t) <= 1000 for t in v.values()),
)
_SOURCES: tuple[str, Check] = (
    'a list drawn from "lab", "mturk", "prolific"',
    lambda v: isinstance(v, list) and v and all(s in ("lab", "mturk", "prolific") for s in v),
)
_LAB_MODE: tuple[str, Check] = ('"named" or "kiosk"', lambda v: v in ("named", "kiosk"))


def _regex(v: Any) -> bool:
    try:
        return isinstance(v, str) and bool(re.compile(v))
    except re.error:
        return False


SCHEMA: dict[str, dict[str, tuple[Any, tuple[str, Check]]]] = {
    "survey": {
        "title": ("Comparing explanation images", _str(200)),
        "consent_text": (DEFAULT_CONSENT, _str()),
        "instructions_text": (DEFAULT_INSTRUCTIONS, _str()),
        "thank_you_text": (DEFAULT_THANKS, _str()),
        "questions": (DEFAULT_QUESTIONS, _QUESTIONS),
        "allow_same": (True, _BOOL),
        "show_original": (None, _BOOL),  # None: follow the manifest's render.show_original
        "practice_trials": (1, _int(0, 5)),
        "questionnaire": (True, _BOOL),
        "contact_text": (DEFAULT_CONTACT, _str(1000)),  # the researcher's contact line (consent, end)
        "examples": (True, _BOOL),  # colour scale, definitions and illustrations in the instructions
        "definitions": (DEFAULT_DEFINITIONS, _DEFINITIONS),  # question id -> what it means
        "practice_examples": (2, _int(0, 3)),  # practice rounds with feedback on illustrations
    },
    "assignment": {
        "ratings_per_pair": (5, _int(1)),
        "pairs_per_participant": (20, _int(1, 1000)),
        "attention_checks_per_participant": (2, _int(0, 100)),
        "counterbalance_sides": (True, _BOOL),
        "allocation_timeout_minutes": (60, _int(1)),
        "max_ratings_per_pair": (0, _int(0)),  # 0: no cap
        "seed": (0, _int(0, 2**62)),
    },
    "recruitment": {
        "sources": (["lab"], _SOURCES),
        "lab_mode": ("named", _LAB_MODE),
        "participant_id_pattern": (r"^[A-Za-z0-9_.\-]{1,64}$", ("a regular expression", _regex)),
    },
}


@dataclass(frozen=True)
class Settings:
    survey: dict[str, Any]
    assignment: dict[str, Any]
    recruitment: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"survey": self.survey, "assignment": self.assignment, "recruitment": self.recruitment}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Settings":
        return parse_sections(d, "<database>")


def validate_sections(doc: dict[str, Any], schema: dict[str, dict[str, Any]], filename: str
                      ) -> dict[str, dict[str, Any]]:
    """Check the sections ``schema`` names in a parsed study.toml; defaults filled in.

    Unknown keys and bad values are errors naming the file, the section and the key. A key
    whose default is ``None`` also accepts ``None``.
    """
    out: dict[str, dict[str, Any]] = {}
    for section, keys in schema.items():
        given = doc.get(section, {})
        if not isinstance(given, dict):
            raise SettingsError(f"{filename}: [{section}] must be a table")
        values = {k: (dict(d) if isinstance(d, dict) else list(d) if isinstance(d, list) else d)
                  for k, (d, _) in keys.items()}
        for key, value in given.items():
            if key not in keys:
                raise SettingsError(
                    f"{filename}: [{section}] has an unknown key {key!r}; "
                    f"expected one of: {', '.join(sorted(keys))}"
                )
            what, ok = keys[key][1]
            if not ok(value) and not (value is None and keys[key][0] is None):
                raise SettingsError(f"{filename}: [{section}] {key} must be {what}, got {value!r}")
            values[key] = value
        out[section] = values
    return out


def parse_sections(doc: dict[str, Any], filename: str) -> Settings:
    """Validate the webapp's sections of a parsed study.toml and fill in defaults."""
    out = validate_sections(doc, SCHEMA, filename)
    out["survey"]["questions"] = {**DEFAULT_QUESTIONS, **out["survey"]["questions"]}
    out["survey"]["definitions"] = {**DEFAULT_DEFINITIONS, **out["survey"]["definitions"]}
    return Settings(**out)


def read_toml(path: Path) -> dict[str, Any]:
    """A parsed study.toml; an empty document if the study directory has none."""
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from exc


def load_study_toml(path: Path) -> Settings:
    """Read study.toml (or return defaults if the study directory has none)."""
    return parse_sections(read_toml(path), str(path))

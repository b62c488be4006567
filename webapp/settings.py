"""The webapp's own sections of study.toml: ``[survey]``, ``[assignment]``, ``[recruitment]``.

Each section is declared once, here, as a frozen pydantic model (``camstudy.schema``):
every key's type, default, bounds and meaning. An unknown key or a value of the wrong
kind is an error that names the file, the section, the key and what was expected.
Reading a study.toml (``load_study_toml``, ``check_study_file``) first checks the whole
file (``camstudy.studyfile``: unknown sections, every package's keys, contradictions).

The rest of the webapp sees ``Settings``: one plain dict per section, defaults filled
in, which is also what ``camstudy import`` stores with the study. Imports only the
standard library and pydantic (``camstudy check`` reads it without flask).
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from camstudy.schema import Bool, Int, Section, Str, key, read_section

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


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(str(exc)) from None
    return pattern


QuestionId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,49}$")]
QuestionText = Annotated[str, Field(min_length=1, max_length=300)]
Text = Annotated[str, Field(max_length=10_000)]
Definition = Annotated[str, Field(min_length=1, max_length=1000)]


class SurveySection(Section):
    title: Str = key("Comparing explanation images", "page title", max_length=200)
    consent_text: Text = key(DEFAULT_CONSENT, "consent page text (blank lines split paragraphs)")
    instructions_text: Text = key(DEFAULT_INSTRUCTIONS, "instructions page text")
    thank_you_text: Text = key(DEFAULT_THANKS, "completion page text")
    questions: dict[QuestionId, QuestionText] = key(
        meaning="question id = question text, added to (or replacing) the defaults larger and focused; "
        "the manifest's questions list says which are asked, and each needs a text",
        expected='a table of question id = question text, e.g. larger = "Which ...?"',
        factory=lambda: dict(DEFAULT_QUESTIONS))
    allow_same: Bool = key(True, 'offer "About the same" as an answer')
    show_original: Bool | None = key(None, "show the original image beside A and B; not set: the "
                                     "manifest's render.show_original", expected="true or false")
    practice_trials: Int = key(1, "practice trials before the real ones", ge=0, le=5)
    questionnaire: Bool = key(True, "short questionnaire before the completion page")
    contact_text: Str = key(DEFAULT_CONTACT, "the researcher's contact line (consent, decline and completion "
                            "pages); the default asks the researcher to set it", max_length=1000)
    examples: Bool = key(True, "colour scale, definitions and drawn illustrations on the instructions page")
    definitions: dict[QuestionId, Definition] = key(
        meaning="question id = what the question means (instructions, practice feedback), added to (or "
        "replacing) the defaults for larger and focused",
        expected='a table of question id = what it means, e.g. larger = "The coloured area ..."',
        factory=lambda: dict(DEFAULT_DEFINITIONS))
    practice_examples: Int = key(2, "practice rounds with feedback on drawn illustrations (not study pairs) "
                                 "in the instructions", ge=0, le=3)


class AssignmentSection(Section):
    ratings_per_pair: Int = key(5, "judgments wanted per pair (the admin's progress target; sizes the "
                                "MTurk assignments)", ge=1)
    pairs_per_participant: Int = key(20, "real pairs per participant (not set: 20, or every pair when "
                                     "fewer are rendered)", ge=1, le=1000)
    attention_checks_per_participant: Int = key(2, "attention checks per participant (not set: 2, or "
                                                "every check when fewer are rendered)", ge=0, le=100)
    counterbalance_sides: Bool = key(True, "show each pair in both A/B orders equally often")
    allocation_timeout_minutes: Int = key(60, "how long an unfinished session holds its pairs", ge=1)
    max_ratings_per_pair: Int = key(0, 'stop allocating a pair at this load; 0: no cap (with no pair left, '
                                    'new participants see "The study is full")', ge=0)
    seed: Int = key(0, "base of the participants' seeds", ge=0, le=2**62)

    @model_validator(mode="after")
    def _cap_reaches_target(self) -> "AssignmentSection":
        """max_ratings_per_pair (unless 0, no cap) below ratings_per_pair."""
        if self.max_ratings_per_pair and self.max_ratings_per_pair < self.ratings_per_pair:
            target = f"ratings_per_pair = {self.ratings_per_pair}" + (
                "" if self.written("ratings_per_pair") else " (the default)")
            raise ValueError(f"max_ratings_per_pair = {self.max_ratings_per_pair} is below {target}: "
                             "no pair could reach its target (raise the cap, or 0 for none)")
        return self


class RecruitmentSection(Section):
    sources: list[Literal["lab", "mturk", "prolific"]] = key(
        meaning="enabled participant sources (docs/mturk.md)", expected='a list drawn from "lab", "mturk", '
        '"prolific"', factory=lambda: ["lab"], min_length=1)
    lab_mode: Literal["named", "kiosk"] = key("named", '"named" (type an id) or "kiosk" (anonymous, one per start)')
    participant_id_pattern: Annotated[Str, AfterValidator(_compiles)] = key(
        r"^[A-Za-z0-9_.\-]{1,64}$", "ids accepted at /lab", expected="a regular expression")


SECTIONS: dict[str, type[Section]] = {
    "survey": SurveySection, "assignment": AssignmentSection, "recruitment": RecruitmentSection,
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
        return parse_sections(d, "<database>", rules=False)  # accepted at import; never refused live


def read_sections(doc: dict[str, Any], sections: dict[str, type[Section]], filename: str,
                  rules: bool = True) -> dict[str, dict[str, Any]]:
    """The named sections of a parsed study.toml as plain dicts, defaults filled in."""
    out, problems = {}, []
    for name, cls in sections.items():
        section, errors = read_section(cls, doc.get(name, {}), filename, name, rules)
        problems += errors
        if section is not None:
            out[name] = section.model_dump()
    if problems:
        raise SettingsError("\n".join(problems))
    return out


def parse_sections(doc: dict[str, Any], filename: str, rules: bool = True) -> Settings:
    """Validate the webapp's sections of a parsed study.toml and fill in defaults."""
    out = read_sections(doc, SECTIONS, filename, rules)
    out["survey"]["questions"] = {**DEFAULT_QUESTIONS, **out["survey"]["questions"]}
    out["survey"]["definitions"] = {**DEFAULT_DEFINITIONS, **out["survey"]["definitions"]}
    return Settings(**out)


def check_study_file(doc: dict[str, Any], filename: str, manifest: dict[str, Any] | None = None) -> None:
    """The whole file checked (every package's sections; against ``manifest`` when given)."""
    from camstudy import studyfile  # it collects this module's declarations

    problems = studyfile.problems(doc, filename, manifest)
    if problems:
        raise SettingsError("\n".join(problems))


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
    doc = read_toml(path)
    check_study_file(doc, str(path))
    return parse_sections(doc, str(path))


def check_study_dir(study_dir: str | Path | None, manifest: dict[str, Any] | None) -> None:
    """A study directory's study.toml, if it is still there, checked as `camstudy import` checks it.

    Commands that act on an imported study (``camstudy mturk``) run this: a section added
    or misspelt after the import is refused rather than silently left at its default.
    """
    if not study_dir:
        return
    path = Path(study_dir) / "study.toml"
    check_study_file(read_toml(path), str(path), manifest)

"""The webapp's sections of study.toml: ``[survey]``, ``[assignment]``, ``[recruitment]``,
and the crowd platforms' ``[mturk]`` and ``[prolific]``.

Each section is declared once, here, as a frozen pydantic model (``camstudy.schema``):
every key's type, default, bounds and meaning. An unknown key or a value of the wrong
kind is an error that names the file, the section, the key and what was expected.
Reading a study.toml (``load_study_toml``, ``check_study_file``) first checks the whole
file (``camstudy.studyfile``: unknown sections, every package's keys, contradictions).

The rest of the webapp sees ``Settings``: one plain dict per section, defaults filled
in, which is also what ``camstudy import`` stores with the study. The crowd sections
are parsed apart (``parse_crowd_sections``) and stored beside them in
``studies.settings``, so the worker pages and ``camstudy mturk`` read the same values
(``crowd_settings``). Imports only the standard library and pydantic (``camstudy
check`` reads it without flask).
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from camstudy.schema import Bool, Float, Int, Section, Str, key, read_section

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


# --------------------------------------------------------------------------- [mturk], [prolific]


def _at_least_a_cent(amount: str) -> str:
    if float(amount) < 0.01:
        raise ValueError("less than a cent")
    return amount


def _has_code(url: str) -> str:
    if not url.startswith("https://") or "{code}" not in url:
        raise ValueError("not an https:// URL with {code}")
    return url


# Worker requirements left unset in [mturk]. Live: the safe defaults. Sandbox: none, because
# a fresh sandbox worker account has no approved HITs and no locale, and would not see the HIT.
LIVE_QUALIFICATIONS = {"min_approval_rate": 95, "min_approved_hits": 100, "locales": ["US"]}
SANDBOX_QUALIFICATIONS = {"min_approval_rate": 0, "min_approved_hits": 0, "locales": []}

Money = Annotated[Str, Field(pattern=r"^\d{1,4}\.\d{2}$"), AfterValidator(_at_least_a_cent)]
Locale = Annotated[Str, Field(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")]
Id = Annotated[Str, Field(min_length=1, max_length=100)]


class MTurkSection(Section):
    title: Str = key("Compare pairs of explanation images", "HIT title workers see (never name a method)",
                     max_length=128)
    description: Str = key("Look at pairs of heat-map images and say which highlights a larger area "
                           "and which is more focused.", "HIT description", max_length=2000)
    keywords: Str = key("image, comparison, survey, research", "HIT keywords", max_length=1000)
    reward: Money = key("1.50", "per assignment, US dollars",
                        expected='an amount in US dollars as a string with two decimals, e.g. "1.50"')
    assignments: Int = key(0, "total assignments; 0: ceil(pairs x ratings_per_pair / pairs_per_participant)",
                           ge=0, le=100_000)
    assignment_duration_minutes: Int = key(60, "time a worker has after accepting", ge=1, le=7 * 24 * 60)
    lifetime_hours: Int = key(72, "how long the HITs stay on the marketplace", ge=1, le=365 * 24)
    auto_approval_delay_hours: Int = key(72, "MTurk approves unreviewed submissions after this", ge=0, le=30 * 24)
    frame_height: Int = key(800, "ExternalQuestion frame height in pixels; 0: fit the window", ge=0, le=10_000)
    public_url: Str = key("", "the survey's public https:// base URL (or create --url)",
                          expected='an https:// URL (or "" to pass --url to camstudy mturk create)',
                          pattern=r"^(https://[^\s/?#]+(/[^\s?#]*)?)?$")
    # Not set (None): the mode's default, LIVE_QUALIFICATIONS or SANDBOX_QUALIFICATIONS
    min_approval_rate: Annotated[Int, Field(ge=0, le=100)] | None = key(
        None, "workers' approval rate, %; 0: no requirement; not set: 95 live, none in the sandbox",
        expected="an integer from 0 to 100")
    min_approved_hits: Annotated[Int, Field(ge=0)] | None = key(
        None, "workers' number of approved HITs; 0: no requirement; not set: 100 live, none in the sandbox",
        expected="an integer >= 0")
    locales: list[Locale] | None = key(
        None, 'countries ("US") or subdivisions ("US-NY"); []: anywhere; not set: ["US"] live, anywhere '
        "in the sandbox", expected='a list of country codes, optionally with a subdivision, e.g. ["US", "CA", "US-NY"]')
    masters: Bool = key(False, "require the Masters qualification (+5% fee)")
    exclude_participants: Bool = key(True, "keep workers from taking this study twice")
    exclude_studies: list[Id] = key(meaning="study ids (in this database) whose workers may not take part",
                                    factory=list)
    exclude_qualification_ids: list[Id] = key(meaning="further qualification type ids whose holders may "
                                              "not take part", factory=list)
    min_attention_correct: Float = key(1.0, "share of attention-check answers that must be right for "
                                       "review to approve", ge=0, le=1)


class ProlificSection(Section):
    completion_code: Str = key("", "the code Prolific shows in the study's completion settings (required "
                               'when [recruitment] sources includes "prolific")', max_length=100)
    completion_url: Annotated[Str, AfterValidator(_has_code)] = key(
        "https://app.prolific.com/submissions/complete?cc={code}", "where a finished participant is sent",
        expected="an https:// URL containing {code}")
    study_id: Str = key("", "the Prolific study whose links are accepted (required when [recruitment] sources "
                        'includes "prolific": links with any other STUDY_ID are refused)', max_length=100)


CROWD_SECTIONS: dict[str, type[Section]] = {"mturk": MTurkSection, "prolific": ProlificSection}


def prolific_needs_code(sections: dict[str, Any], filename: str) -> list[str]:
    """[recruitment] sources including "prolific" with no [prolific] completion_code (nobody could
    finish) or no study_id (any STUDY_ID would be accepted)."""
    recruitment, prolific = sections.get("recruitment"), sections.get("prolific")
    if recruitment is None or prolific is None:
        return []
    if "prolific" not in recruitment.sources:
        return []
    problems = []
    if not prolific.completion_code:
        problems.append(f"{filename}: [prolific] completion_code must be set (the code Prolific shows in the "
                        'study\'s completion settings) when [recruitment] sources includes "prolific"')
    if not prolific.study_id:
        problems.append(f"{filename}: [prolific] study_id must be set (the study's id on Prolific; links with "
                        'any other STUDY_ID are refused) when [recruitment] sources includes "prolific"')
    return problems


def parse_crowd_sections(doc: dict[str, Any], filename: str) -> dict[str, dict[str, Any]]:
    """Validate ``[mturk]`` and ``[prolific]`` of a parsed study.toml, with defaults filled in."""
    out = read_sections(doc, CROWD_SECTIONS, filename)
    recruitment, _ = read_section(RecruitmentSection, doc.get("recruitment", {}), filename, "recruitment")
    problems = prolific_needs_code({"recruitment": recruitment, "prolific": ProlificSection(**out["prolific"])},
                                   filename)
    if problems:
        raise SettingsError("\n".join(problems))
    return out


def load_crowd_sections(path: Path) -> dict[str, dict[str, Any]]:
    return parse_crowd_sections(read_toml(path), str(path))


def crowd_settings(stored: dict[str, Any], section: str) -> dict[str, Any]:
    """A section from ``studies.settings`` (defaults if the study was imported before it existed)."""
    return parse_crowd_sections({section: stored.get(section, {})}, "<database>")[section]

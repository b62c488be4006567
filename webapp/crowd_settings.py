"""The ``[mturk]`` and ``[prolific]`` sections of study.toml, declared and validated.

Like ``webapp.settings``: each section is one frozen pydantic model, every key has a
default; an unknown key or a value of the wrong kind is an error naming the file, the
section, the key and what was expected. ``camstudy import`` stores the validated
sections with the study (``studies.settings``), so the worker pages and ``camstudy
mturk`` read the same values. Imports only the standard library and pydantic.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from camstudy.schema import Bool, Float, Int, Section, Str, key, read_section
from webapp.settings import RecruitmentSection, SettingsError, read_sections, read_toml


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
    study_id: Str = key("", 'the Prolific study whose links are accepted; "": any STUDY_ID', max_length=100)


SECTIONS: dict[str, type[Section]] = {"mturk": MTurkSection, "prolific": ProlificSection}


def prolific_needs_code(sections: dict[str, Any], filename: str) -> list[str]:
    """[recruitment] sources including "prolific" with no [prolific] completion_code (nobody could finish)."""
    recruitment, prolific = sections.get("recruitment"), sections.get("prolific")
    if recruitment is None or prolific is None:
        return []
    if "prolific" in recruitment.sources and not prolific.completion_code:
        return [f"{filename}: [prolific] completion_code must be set (the code Prolific shows in the study's "
                'completion settings) when [recruitment] sources includes "prolific"']
    return []


def parse_crowd_sections(doc: dict[str, Any], filename: str) -> dict[str, dict[str, Any]]:
    """Validate ``[mturk]`` and ``[prolific]`` of a parsed study.toml, with defaults filled in."""
    out = read_sections(doc, SECTIONS, filename)
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

"""study.toml as a whole: every section known, every key checked, no contradictions.

Each package declares its own sections (generator/settings.py, webapp/settings.py,
analysis/settings.py); this module only collects them, so it
is the one place that knows every section name. ``problems`` is what every command
that reads study.toml runs first (generate, evaluate, import, report, mturk, check):
an unknown section such as ``[pair]`` is refused with the known ones (and the closest
suggested), and so are settings that contradict each other or the rendered study,
naming both sides.

Imports only the schema modules (standard library and pydantic): no torch, flask or
database driver.
"""
from __future__ import annotations

from typing import Any, Callable

from analysis import settings as analysis_settings
from camstudy.schema import Section, closest, read_section, toml_value
from generator import settings as generator_settings
from webapp import settings as webapp_settings

# package -> its sections, in the order docs/study-toml.md lists them
OWNERS: dict[str, dict[str, type[Section]]] = {
    "generator": generator_settings.SECTIONS,
    "webapp": {**webapp_settings.SECTIONS, **webapp_settings.CROWD_SECTIONS},
    "analysis": analysis_settings.SECTIONS,
}
SECTIONS: dict[str, type[Section]] = {name: cls for owned in OWNERS.values() for name, cls in owned.items()}

Sections = dict[str, Any]  # section name -> its Section, or None where it had problems


def problems(doc: dict[str, Any], filename: str, manifest: dict[str, Any] | None = None) -> list[str]:
    """Every problem of a parsed study.toml (empty: it is fine), each naming the file.

    ``manifest``: the rendered study (manifest.json) to check the settings against.
    """
    found = unknown_sections(doc, filename)
    sections: Sections = {}
    for name, cls in SECTIONS.items():
        sections[name], errors = read_section(cls, doc.get(name, {}), filename, name)
        found += errors
    for rule in RULES:
        found += rule(sections, filename)
    if manifest is not None:
        found += against_manifest(sections, filename, manifest)
    return found


def unknown_sections(doc: dict[str, Any], filename: str) -> list[str]:
    known = ", ".join(f"[{name}]" for name in SECTIONS)
    out = []
    for name, value in doc.items():
        if name in SECTIONS:
            continue
        guess = closest(name, SECTIONS)
        hint = f"; did you mean [{guess}]?" if guess else ""
        if isinstance(value, dict):
            out.append(f"{filename}: unknown section [{name}]{hint} Known sections: {known}")
        else:
            out.append(f"{filename}: {name} = {toml_value(value)} is outside any section{hint} "
                       f"Every key belongs under one of: {known}")
    return out


def _default_note(section: Section, key: str) -> str:
    return "" if section.written(key) else " (the default)"


def per_participant_vs_rendered(s: Sections, filename: str) -> list[str]:
    """[assignment] pairs_per_participant (when written) larger than [pairs] n (unless 0, every
    pair); [assignment] attention_checks_per_participant (when written) larger than [pairs]
    attention_checks."""
    a, p = s.get("assignment"), s.get("pairs")
    if a is None or p is None:
        return []
    out = []
    if a.written("pairs_per_participant") and p.n and a.pairs_per_participant > p.n:
        out.append(f"{filename}: [assignment] pairs_per_participant = {a.pairs_per_participant} is more than "
                   f"[pairs] n = {p.n}, the pairs the study renders")
    if a.written("attention_checks_per_participant") and \
            a.attention_checks_per_participant > p.attention_checks:
        out.append(f"{filename}: [assignment] attention_checks_per_participant = "
                   f"{a.attention_checks_per_participant} is more than [pairs] attention_checks = "
                   f"{p.attention_checks}{_default_note(p, 'attention_checks')}, the checks the study renders")
    return out


def primary_questions_asked(s: Sections, filename: str) -> list[str]:
    """[analysis] primary_questions naming a question [survey] questions has no text for."""
    analysis, survey = s.get("analysis"), s.get("survey")
    if analysis is None or survey is None:
        return []
    known = {**webapp_settings.DEFAULT_QUESTIONS, **survey.questions}
    missing = [q for q in analysis.primary_questions if q not in known]
    if not missing:
        return []
    return [f"{filename}: [analysis] primary_questions names {', '.join(map(repr, missing))}, which "
            f"[survey] questions does not have (it has: {', '.join(known)})"]


def original_shown_but_not_rendered(s: Sections, filename: str) -> list[str]:
    """[survey] show_original = true while [render] show_original = false (no original image is written)."""
    survey, render = s.get("survey"), s.get("render")
    if survey is None or render is None or not (survey.show_original and not render.show_original):
        return []
    return [f"{filename}: [survey] show_original = true, but [render] show_original = false writes no "
            "original images to show"]


RULES: list[Callable[[Sections, str], list[str]]] = [
    per_participant_vs_rendered, primary_questions_asked, original_shown_but_not_rendered,
    webapp_settings.prolific_needs_code,
]


# what ``against_manifest`` refuses, for docs/study-toml.md
MANIFEST_RULES = [
    "[assignment] pairs_per_participant, when written, larger than the pairs rendered;",
    "[assignment] attention_checks_per_participant, when written, larger than the attention checks rendered;",
    "[analysis] primary_questions that the manifest does not ask;",
    "[survey] show_original = true when the manifest has no original images (render.show_original false);",
    "[study] id, when written, different from the manifest's study id.",
]


def rendered(manifest: dict[str, Any]) -> tuple[int, int]:
    """(pairs, attention checks) in a manifest."""
    pairs = manifest.get("pairs") if isinstance(manifest, dict) else None
    if not isinstance(pairs, list):
        return 0, 0
    checks = sum(1 for p in pairs if isinstance(p, dict) and p.get("is_attention_check"))
    return len(pairs) - checks, checks


def against_manifest(s: Sections, filename: str, manifest: dict[str, Any]) -> list[str]:
    """Settings the rendered study cannot honour, naming the setting and what was rendered."""
    n_pairs, n_checks = rendered(manifest)
    where = "the rendered study (manifest.json)"
    out = []
    study, a = s.get("study"), s.get("assignment")
    if study is not None and study.written("id") and manifest.get("study_id") not in (None, study.id):
        out.append(f"{filename}: [study] id = {study.id!r}, but {where} is study {manifest.get('study_id')!r}")
    if a is not None:
        if a.written("pairs_per_participant") and a.pairs_per_participant > n_pairs:
            out.append(f"{filename}: [assignment] pairs_per_participant = {a.pairs_per_participant} is more "
                       f"than the {n_pairs} pairs of {where}")
        if a.written("attention_checks_per_participant") and a.attention_checks_per_participant > n_checks:
            out.append(f"{filename}: [assignment] attention_checks_per_participant = "
                       f"{a.attention_checks_per_participant} is more than the {n_checks} attention checks "
                       f"of {where}")
    survey, shown = s.get("survey"), manifest.get("render")
    if survey is not None and survey.show_original and isinstance(shown, dict) and \
            shown.get("show_original") is False:
        out.append(f"{filename}: [survey] show_original = true, but {where} has no original images "
                   "(it was rendered with [render] show_original = false)")
    asked = manifest.get("questions")
    analysis = s.get("analysis")
    if analysis is not None and isinstance(asked, list):
        missing = [q for q in analysis.primary_questions if q not in asked]
        if missing:
            out.append(f"{filename}: [analysis] primary_questions names {', '.join(map(repr, missing))}, "
                       f"which {where} does not ask (it asks: {', '.join(map(str, asked))})")
    return out

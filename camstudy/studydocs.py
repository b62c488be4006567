"""docs/study-toml.md, written from the declarations (``camstudy check --write-docs``).

The reference is generated, never edited by hand: tests/camstudy/test_studyfile.py compares
the committed file with ``markdown()``, so a key added to a section without
regenerating the docs fails the tests.
"""
from __future__ import annotations

from pathlib import Path

from camstudy import studyfile
from camstudy.schema import Section, expected, toml_value

DOCS_PATH = Path(__file__).resolve().parents[1] / "docs" / "study-toml.md"

OWNER_TITLES = {
    "generator": "Generator sections (`camstudy generate`, `camstudy evaluate`; generator/settings.py)",
    "webapp": "Web app sections (`camstudy import`, `camstudy serve`, `camstudy mturk`; "
              "webapp/settings.py)",
    "analysis": "Analysis section (`camstudy report --config`; analysis/settings.py)",
}

INTRO = """\
# study.toml reference

One TOML file describes a study. Each package declares its own sections (the tables
below are generated from those declarations: `camstudy check --write-docs`). Every
command that reads the file (`generate`, `evaluate`, `import`, `report --config`, `mturk`)
checks all of it first and refuses, naming the file, the section and the key:

- a section that is not one of those below (`[pair]`: did you mean `[pairs]`?), and a key
  outside any section;
- a key a section does not have (with the closest known key), or a value of the wrong kind
  or out of bounds (saying what was expected);
- settings that contradict each other or the rendered study (listed at the end), naming
  both sides.

`camstudy check study.toml [--study DIR]` runs every check at once, without loading torch,
flask or a database, and lists every problem; with `--study` it also checks the settings
against the rendered study in DIR (its manifest.json). A key that is not written takes its
default; "written" below means the key appears in the file.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(section: type[Section], name: str) -> str:
    field = section.model_fields[name]
    value = field.get_default(call_default_factory=True)
    return "not set" if value is None else f"`{_cell(toml_value(value))}`"


def section_table(name: str, section: type[Section]) -> str:
    rows = [f"### [{name}]", "", "| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for key, field in section.model_fields.items():
        rows.append(f"| `{key}` | {_cell(expected(field))} | {_default(section, key)} | "
                    f"{_cell(field.description or '')} |")
    return "\n".join(rows) + "\n"


def _rules(section: type[Section]) -> list[str]:
    validators = section.__pydantic_decorators__.model_validators.values()
    return [" ".join(v.func.__doc__.split()) for v in validators if v.func.__doc__]


def rules_text() -> str:
    lines = ["## Contradictions refused", ""]
    for name, section in studyfile.SECTIONS.items():
        lines += [f"- `[{name}]`: {rule}" for rule in _rules(section)]
    lines += [f"- {' '.join(rule.__doc__.split())}" for rule in studyfile.RULES if rule.__doc__]
    lines.append("- Against the rendered study (its manifest.json: `import`, `mturk`, `check --study`):")
    for line in studyfile.MANIFEST_RULES:
        lines.append(f"  - {line}")
    return "\n".join(lines) + "\n"


def markdown() -> str:
    parts = [INTRO]
    for owner, sections in studyfile.OWNERS.items():
        parts.append(f"## {OWNER_TITLES[owner]}\n")
        parts += [section_table(name, section) for name, section in sections.items()]
    parts.append(rules_text())
    return "\n".join(parts)


def write(path: Path = DOCS_PATH) -> Path:
    if not path.parent.is_dir():  # an installed package has no docs/ beside it
        raise SystemExit(f"camstudy check --write-docs: {path.parent} not found; run it in a camstudy checkout")
    path.write_text(markdown(), encoding="utf-8")
    return path

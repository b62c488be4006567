"""`camstudy check study.toml [--study DIR]`: every check of the study file at once.

Runs what each command runs before it reads the file (``camstudy.studyfile``), lists every
problem instead of the first, and with ``--study`` checks the settings against the
rendered study too. Loads no torch, flask or database driver, so it runs anywhere in
well under a second.
"""
from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import Any


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="camstudy check", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("config", nargs="?", type=Path, help="the study file (study.toml)")
    p.add_argument("--study", type=Path, metavar="DIR",
                   help="a rendered study directory: check the settings against its manifest.json")
    p.add_argument("--write-docs", action="store_true",
                   help="regenerate docs/study-toml.md from the declarations (and check nothing else)")
    return p


def read(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    if not path.is_file():
        return None, [f"{path}: not found"]
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")), []
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return None, [f"{path}: not valid TOML ({exc})"]


def read_manifest(study_dir: Path) -> tuple[dict[str, Any] | None, list[str]]:
    path = study_dir / "manifest.json"
    if not path.is_file():
        return None, [f"{study_dir}: no manifest.json (render the study with `camstudy generate` first)"]
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, [f"{path}: not valid JSON ({exc})"]
    if not isinstance(manifest, dict):
        return None, [f"{path}: not a manifest (expected a JSON object)"]
    return manifest, []


def summary(path: Path, doc: dict[str, Any], manifest: dict[str, Any] | None, study_dir: Path | None) -> str:
    from camstudy import studyfile
    from generator.settings import PairsSection
    from webapp.settings import AssignmentSection

    written = [f"[{name}]" for name in studyfile.SECTIONS if name in doc]
    rest = len(studyfile.SECTIONS) - len(written)
    pairs = PairsSection.model_validate(doc.get("pairs", {}))
    a = AssignmentSection.model_validate(doc.get("assignment", {}))
    renders = f"{pairs.n} pairs" if pairs.n else "every candidate pair"
    lines = [
        f"{path}: OK",
        f"  sections written: {' '.join(written) or 'none'}; {rest} other section(s) take their defaults",
        f"  renders {renders} and {pairs.attention_checks} attention check(s); each participant sees up to "
        f"{a.pairs_per_participant} pairs and {a.attention_checks_per_participant} check(s); "
        f"{a.ratings_per_pair} ratings wanted per pair",
    ]
    if manifest is not None:
        n_pairs, n_checks = studyfile.rendered(manifest)
        lines.append(f"  matches the rendered study in {study_dir}: {n_pairs} pairs, {n_checks} attention check(s)")
    else:
        lines.append("  (not checked against a rendered study: pass --study DIR)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.write_docs:
        from camstudy import studydocs

        print(f"wrote {studydocs.write()}")
        return 0
    if args.config is None:
        parser.error("give a study.toml")
    from camstudy import studyfile

    doc, problems = read(args.config)
    manifest = None
    if args.study is not None:
        manifest, found = read_manifest(args.study)
        problems += found
    if doc is not None:
        problems += studyfile.problems(doc, str(args.config), manifest)
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        print(f"camstudy check: {len(problems)} problem(s) in {args.config}", file=sys.stderr)
        return 1
    print(summary(args.config, doc, manifest, args.study))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""`camstudy import`: load a study directory (docs/formats.md) into the database.

Idempotent: importing the same manifest again changes nothing but the survey settings
(the webapp's sections of the study directory's study.toml, which may be edited
between sessions). A manifest whose content differs from the one already imported
under the same study id is refused: the pairs participants have answered must not
change under them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from webapp.data.manifest_check import check_pairs, pair_where, stimulus_entries
from webapp.data.migrate import checked_engine
from webapp.data.tables import Pair, Participant, Response, Stimulus, Study, Trial
from webapp.errors import StudyChangedError, StudyImportError
from webapp.settings import parse_crowd_sections
from webapp.settings import Settings, check_study_file, parse_sections, read_toml
from webapp.survey.assignment import settle_checks
from webapp.survey.stimulus_urls import s3_uri

FORMAT_VERSIONS = (1,)


@dataclass(frozen=True)
class ImportResult:
    study_id: str
    created: bool
    pairs: int
    attention_checks: int
    settings_changed: bool

    def summary(self) -> str:
        """The line `camstudy import` (and the demo) prints."""
        what = "imported" if self.created else "already imported, unchanged"
        if not self.created and self.settings_changed:
            what = "already imported; survey settings updated from study.toml"
        return f"study {self.study_id}: {what} ({self.pairs} pairs, {self.attention_checks} attention checks)"


# What participants see and answers refer to. Provenance that changes on every run of
# the generator (created_at, generator_version, device, timings) is left out, so a
# deterministic re-render of the same study re-imports as "unchanged".
CONTENT_KEYS = ("study_id", "questions", "methods", "storage", "pairs")


def content_sha256(manifest: dict[str, Any]) -> str:
    return canonical_sha256({k: manifest.get(k) for k in CONTENT_KEYS})


def canonical_sha256(obj: Any) -> str:
    return hashlib.sha256(
        json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()


def read_manifest(study_dir: Path) -> dict[str, Any]:
    path = study_dir / "manifest.json"
    if not path.is_file():
        raise StudyImportError(f"{path}: not found (is {study_dir} a study directory?)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StudyImportError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("kind") != "camstudy-manifest":
        raise StudyImportError(f"{path}: not a camstudy manifest (kind must be 'camstudy-manifest')")
    version = manifest.get("format_version")
    if version not in FORMAT_VERSIONS:
        raise StudyImportError(
            f"{path}: format_version {version!r} is not supported; this webapp reads "
            f"{', '.join(map(str, FORMAT_VERSIONS))}"
        )
    for key, kind in (("study_id", str), ("pairs", list), ("questions", list)):
        if not isinstance(manifest.get(key), kind) or not manifest[key]:
            raise StudyImportError(f"{path}: '{key}' is missing or empty")
    return manifest


# PNG and JPEG signatures: a local stimulus must be an image whatever its name says.
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def verify_stimulus_files(study_dir: Path, manifest: dict[str, Any]) -> None:
    """Every stimulus file's bytes match the manifest's sha256 and are an image. Stimuli with
    a URL (S3) may live only there; a local copy beside the manifest is checked all the same."""
    local = (manifest.get("storage") or {}).get("kind", "local") == "local"
    for i, pair in enumerate(manifest["pairs"]):
        for field, entry in stimulus_entries(pair):
            _verify_bytes(study_dir, entry, f"{pair_where(study_dir / 'manifest.json', i, pair)} {field}",
                          required=local and entry.get("url") is None)


def _verify_bytes(study_dir: Path, entry: dict[str, Any], where: str, required: bool) -> None:
    file = entry.get("file") or ""
    path = (study_dir / file).resolve()
    if not file or not path.is_relative_to(study_dir.resolve()) or not path.is_file():
        if required:
            raise StudyImportError(f"{where}.file: stimulus file {file!r} is missing from {study_dir}")
        return
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise StudyImportError(
            f"{where}.sha256: sha256 differs from the bytes of {path} (the file changed after generation)"
        )
    if not data.startswith(IMAGE_MAGIC):
        raise StudyImportError(f"{where}.file: {path} is not a PNG or JPEG image")


def _stimulus(
    session: Session, study: Study, study_dir: Path, entry: dict[str, Any], storage: dict[str, Any],
    cache: dict[str, Stimulus],
) -> Stimulus:
    file = entry.get("file") or ""
    url = entry.get("url")
    kind = storage.get("kind", "local")
    if url is None and kind == "s3" and storage.get("url_mode") == "presigned":
        # Signed per page view (webapp/survey/stimulus_urls.py); the bytes stay in S3.
        bucket, prefix = storage.get("bucket"), (storage.get("prefix") or "").strip("/")
        if not bucket or not isinstance(bucket, str) or not file:
            raise StudyImportError(f"{study_dir}: presigned S3 storage needs storage.bucket and each stimulus's file")
        url = s3_uri(bucket, f"{prefix}/{file}" if prefix else file)
    elif url is None and kind != "local":
        raise StudyImportError(f"{study_dir}: storage kind {kind!r} with url_mode {storage.get('url_mode')!r} "
                           "has no stimulus URLs; expected local files, public URLs or presigned S3")
    digest = entry["sha256"]
    name = digest[:32]
    if name not in cache:
        found = session.scalar(select(Stimulus).filter_by(study_pk=study.id, name=name))
        cache[name] = found or Stimulus(study_pk=study.id, name=name, file=file, sha256=digest, url=url)
        session.add(cache[name])
    return cache[name]


def count_answers(session: Session, study: Study) -> int:
    return session.scalar(
        select(func.count(Response.id)).join(Participant, Response.participant_pk == Participant.id)
        .where(Participant.study_pk == study.id)
    ) or 0


def delete_study(session: Session, study: Study) -> None:
    """Remove a study with its participants, trials and answers (children first)."""
    participants = select(Participant.id).where(Participant.study_pk == study.id)
    session.execute(delete(Response).where(Response.participant_pk.in_(participants)))
    session.execute(delete(Trial).where(Trial.participant_pk.in_(participants)))
    session.execute(delete(Participant).where(Participant.study_pk == study.id))
    session.execute(delete(Pair).where(Pair.study_pk == study.id))
    session.execute(delete(Stimulus).where(Stimulus.study_pk == study.id))
    session.execute(delete(Study).where(Study.id == study.id))
    session.flush()
    session.expunge(study)


def import_study(session: Session, study_dir: Path, replace: bool = False,
                 discard_answers: bool = False) -> ImportResult:
    """Import (or re-check) a study directory; commits on success, leaves nothing on failure.

    A changed manifest under an existing study id is refused, unless ``replace`` (and,
    when answers exist, ``discard_answers``) says to delete the old study first.
    """
    try:
        return _import(session, Path(study_dir), replace, discard_answers)
    except BaseException:
        session.rollback()
        raise


def import_study_dir(study_dir: str | Path, database_url: str, replace: bool = False,
                     discard_answers: bool = False) -> ImportResult:
    """``import_study`` into the database at ``database_url`` (its schema must be the
    latest). Raises ``StudyChangedError`` when the study id holds a different manifest
    and ``replace`` (with answers stored, also ``discard_answers``) was not given,
    ``StudyImportError`` or ``SettingsError`` for a study directory that cannot be
    imported, ``SchemaError`` for an old database."""
    engine = checked_engine(database_url)
    try:
        with Session(engine) as session:
            return import_study(session, Path(study_dir), replace, discard_answers)
    finally:
        engine.dispose()


def check_study(study_dir: Path, manifest: dict[str, Any], doc: dict[str, Any]) -> Settings:
    """Everything import requires (docs/formats.md), before anything is stored: well-formed
    pairs, the whole study file (also against the manifest), questions with texts, attention
    checks the pairs can honour (an unset number is settled here), stimulus bytes as
    recorded. Returns the webapp's settings."""
    path, toml_path = study_dir / "manifest.json", study_dir / "study.toml"
    check_pairs(path, manifest)  # first: the study file's rules count the pairs
    check_study_file(doc, str(toml_path), manifest)  # every section, and against the rendered study
    settings = parse_sections(doc, str(toml_path))
    missing = [q for q in manifest["questions"] if q not in settings.survey["questions"]]
    if missing:
        raise StudyImportError(
            f"{toml_path}: [survey.questions] has no text for question(s) {', '.join(missing)} used by the manifest"
        )
    problem = settle_checks([(p["image_id"], bool(p.get("is_attention_check"))) for p in manifest["pairs"]],
                            settings.assignment, set(doc.get("assignment") or ()))
    if problem:
        raise StudyImportError(f"{toml_path}: {problem} ({path})")
    verify_stimulus_files(study_dir, manifest)
    return settings


def _import(session: Session, study_dir: Path, replace: bool, discard_answers: bool) -> ImportResult:
    manifest = read_manifest(study_dir)
    toml_path = study_dir / "study.toml"
    doc = read_toml(toml_path)
    settings = check_study(study_dir, manifest, doc)
    path = study_dir / "manifest.json"
    stored_settings = {**settings.as_dict(), **parse_crowd_sections(doc, str(toml_path))}
    ids = [p["pair_id"] for p in manifest["pairs"]]

    digest = content_sha256(manifest)
    existing = session.scalar(select(Study).filter_by(study_id=manifest["study_id"]))
    if existing is not None and existing.manifest_sha256 != digest:
        answers = count_answers(session, existing)
        if not replace or (answers and not discard_answers):
            hint = (
                f"it has {answers} answer(s), which refer to the old pairs: give the new study its own "
                "study_id, or pass --replace --discard-answers to delete them"
                if answers else "it has no answers yet: pass --replace to replace it"
            )
            raise StudyChangedError(
                f"{path}: study {manifest['study_id']!r} is already imported with a different "
                f"manifest (sha256 {existing.manifest_sha256[:12]}…, this one {digest[:12]}…); {hint}."
            )
        delete_study(session, existing)
        existing = None
    if existing is not None:
        changed = existing.settings != stored_settings
        existing.settings = stored_settings
        existing.manifest = manifest
        existing.study_dir = str(study_dir.resolve())
        session.commit()
        n_att = sum(1 for p in manifest["pairs"] if p.get("is_attention_check"))
        return ImportResult(existing.study_id, False, len(ids) - n_att, n_att, changed)

    study = Study(
        study_id=manifest["study_id"],
        manifest_sha256=digest,
        manifest=manifest,
        settings=stored_settings,
        study_dir=str(study_dir.resolve()),
        seed=settings.assignment["seed"],
        allocation_serial=0,
    )
    session.add(study)
    session.flush()
    storage = manifest.get("storage") or {"kind": "local"}
    cache: dict[str, Stimulus] = {}
    for p in manifest["pairs"]:
        attention = bool(p.get("is_attention_check"))
        original = p.get("original")
        session.add(
            Pair(
                study_pk=study.id,
                pair_id=p["pair_id"],
                image_id=p["image_id"],
                class_index=p.get("class_index"),
                class_name=p.get("class_name"),
                is_attention_check=attention,
                expected=p.get("expected") if attention else None,
                original=_stimulus(session, study, study_dir, original, storage, cache)
                if isinstance(original, dict) and (original.get("file") or original.get("url"))
                else None,
                a=_stimulus(session, study, study_dir, p["sides"]["A"], storage, cache),
                b=_stimulus(session, study, study_dir, p["sides"]["B"], storage, cache),
                a_method=None if attention else p["sides"]["A"]["method"],
                b_method=None if attention else p["sides"]["B"]["method"],
            )
        )
    session.commit()
    n_att = sum(1 for p in manifest["pairs"] if p.get("is_attention_check"))
    return ImportResult(study.study_id, True, len(ids) - n_att, n_att, True)


def study_settings(study: Study) -> Settings:
    return Settings.from_dict(study.settings)

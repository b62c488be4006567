"""Per-process caches of a study's parsed settings and manifest-derived data, so a
participant request costs one small query (``study_info``).
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from flask import current_app, g
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from webapp.data.tables import Pair, Stimulus, Study
from webapp.settings import Settings

# Parsing the study's settings and reading its manifest (a large JSON column) on every
# request cost more than the rest of a request. Both are cached per app (so per worker
# process): settings by their content, manifest-derived data (questions, storage, the
# pairs' stimuli and expected answers) by (study pk, manifest_sha256), which a re-import
# with a changed manifest always changes. A re-import that only edits study.toml changes
# the stored settings, hence the key: the next request sees it. Nothing here is state
# that other processes need: every entry is derived from the database.

_cache_lock = threading.Lock()
MAX_CACHED = 64


@dataclass(frozen=True)
class StimulusRef:
    name: str
    url: str | None


@dataclass(frozen=True)
class PairRef:
    original: StimulusRef | None
    a: StimulusRef
    b: StimulusRef
    expected: dict[str, Any] | None


@dataclass(frozen=True)
class StudyInfo:
    """What the participant pages need from a study, without loading its manifest."""

    pk: int
    settings: Settings
    questions: tuple[str, ...]
    storage: dict[str, Any] | None
    show_original: bool
    options: tuple[str, ...]
    pairs: dict[int, PairRef]
    colormap: str = "jet"  # the manifest's render settings: the instructions' illustrations match them
    alpha: float = 0.5


def _caches() -> dict[str, dict]:
    return current_app.extensions.setdefault("camstudy_cache", {"settings": {}, "static": {}})


def _remember(cache: dict, key: Any, value: Any) -> Any:
    with _cache_lock:
        if len(cache) >= MAX_CACHED:
            cache.clear()
        cache[key] = value
    return value


def parsed_settings(raw: dict[str, Any] | str) -> Settings:
    """``Settings.from_dict(raw)``, parsed once per process for each distinct content
    (``raw``: the stored settings, or their JSON text as the database returns it)."""
    cache = _caches()["settings"]
    key = raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    hit = cache.get(key)
    if hit is None:
        hit = _remember(cache, key, Settings.from_dict(json.loads(raw) if isinstance(raw, str) else raw))
    return hit


def settings_of(study: Study) -> Settings:
    return parsed_settings(study.settings)


def _study_static(session: Session, pk: int, sha: str) -> dict[str, Any]:
    cache = _caches()["static"]
    hit = cache.get((pk, sha))
    if hit is not None:
        return hit
    manifest = session.scalar(select(Study.manifest).where(Study.id == pk)) or {}
    stimuli = {sid: StimulusRef(name, url) for sid, name, url in session.execute(
        select(Stimulus.id, Stimulus.name, Stimulus.url).where(Stimulus.study_pk == pk))}
    pairs = {pid: PairRef(stimuli.get(o) if o is not None else None, stimuli[a], stimuli[b], expected)
             for pid, o, a, b, expected in session.execute(
                 select(Pair.id, Pair.original_pk, Pair.a_pk, Pair.b_pk, Pair.expected).where(Pair.study_pk == pk))}
    static = {
        "questions": tuple(manifest.get("questions") or ()),
        "storage": manifest.get("storage"),
        "render_show_original": (manifest.get("render") or {}).get("show_original", True),
        "colormap": (manifest.get("render") or {}).get("colormap", "jet"),
        "alpha": float((manifest.get("render") or {}).get("alpha", 0.5)),
        "pairs": pairs,
    }
    return _remember(cache, (pk, sha), static)


def study_info(session: Session, study_pk: int) -> StudyInfo:
    """The study's cached settings and manifest data (one small query per request)."""
    memo = g.setdefault("camstudy_study_info", {})
    info = memo.get(study_pk)
    if info is not None:
        return info
    sha, raw = session.execute(  # the settings as text: the cache key, decoded only on a miss
        select(Study.manifest_sha256, cast(Study.settings, Text)).where(Study.id == study_pk)).one()
    settings = parsed_settings(raw)
    static = _study_static(session, study_pk, sha)
    value = settings.survey["show_original"]
    info = StudyInfo(
        pk=study_pk, settings=settings, questions=static["questions"], storage=static["storage"],
        show_original=bool(static["render_show_original"] if value is None else value),
        options=("A", "B") + (("same",) if settings.survey["allow_same"] else ()),
        pairs=static["pairs"], colormap=static["colormap"], alpha=static["alpha"],
    )
    memo[study_pk] = info
    return info

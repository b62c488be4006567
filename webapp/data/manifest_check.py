"""What `camstudy import` requires of a manifest's pairs before anything is stored.

Every refusal names the manifest, the pair (its ``pair_id`` and position) and the field,
e.g. ``manifest.json: pair 'k3Jd9s0aQw' (pairs[3]) sides.A.method: ...``. The bytes of
local stimulus files are checked against their ``sha256`` by the importer, which reads
them anyway; everything that can be judged from the manifest alone is checked here.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from webapp.data.tables import SIDES, Pair, Stimulus
from webapp.errors import StudyImportError

# The generator's registry (generator.cams.METHODS), kept by hand because the webapp
# never imports torch; tests/webapp/data/test_import.py keeps the two equal.
KNOWN_METHODS = ("gradcam", "hirescam", "cam")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# The schema's column sizes (webapp/data/tables.py): longer values would fail at the database.
PAIR_ID_MAX, IMAGE_ID_MAX = Pair.__table__.c.pair_id.type.length, Pair.__table__.c.image_id.type.length
FILE_MAX, URL_MAX = Stimulus.__table__.c.file.type.length, Stimulus.__table__.c.url.type.length
# Browsers drop tabs and newlines inside URLs and strip leading spaces and control
# characters, so "java\tscript:" runs as javascript: refuse any such character.
URL_UNSAFE_RE = re.compile(r"[\x00-\x20\x7f\\]")


def check_pairs(path: Path, manifest: dict[str, Any]) -> None:
    """Refuse the first pair that breaks a rule of docs/formats.md ("What import requires")."""
    base = _storage_base_url(path, manifest.get("storage"))
    methods = manifest.get("methods")
    listed = {m for m in methods if isinstance(m, str)} if isinstance(methods, list) else set(KNOWN_METHODS)
    allowed = set(KNOWN_METHODS) & listed
    seen: set[str] = set()
    for i, pair in enumerate(manifest["pairs"]):
        where = pair_where(path, i, pair)
        _check_pair(where, pair, manifest["questions"], allowed, base)
        pid = pair["pair_id"]
        if pid in seen:
            raise StudyImportError(f"{where} pair_id: {pid!r} is used by an earlier pair too (pair ids must be unique)")
        seen.add(pid)


def pair_where(path: Path, i: int, pair: Any) -> str:
    """How refusals name a pair: the manifest, the pair's id (when it has one) and position."""
    pid = pair.get("pair_id") if isinstance(pair, dict) else None
    return f"{path}: pair {pid!r} (pairs[{i}])" if isinstance(pid, str) and pid else f"{path}: pairs[{i}]"


def stimulus_entries(pair: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(field, entry) for each stimulus of a checked pair: original (if any), A, B."""
    entries = [("original", pair["original"])] if pair.get("original") is not None else []
    return entries + [(f"sides.{side}", pair["sides"][side]) for side in ("A", "B")]


def _check_pair(where: str, pair: Any, questions: list[str], methods: set[str], base: str | None) -> None:
    if not isinstance(pair, dict):
        raise StudyImportError(f"{where} must be an object")
    for key, longest in (("pair_id", PAIR_ID_MAX), ("image_id", IMAGE_ID_MAX)):
        if not isinstance(pair.get(key), str) or not pair[key] or len(pair[key]) > longest:
            raise StudyImportError(f"{where} {key}: must be a non-empty string of at most {longest} characters")
    sides = pair.get("sides")
    if not isinstance(sides, dict) or set(sides) != {"A", "B"}:
        raise StudyImportError(f"{where} sides: must have exactly A and B")
    for field, entry in stimulus_entries(pair):
        check_stimulus_entry(where, field, entry, base)
    _check_distinct(where, sides["A"], sides["B"])
    if pair.get("is_attention_check"):
        _check_expected(where, pair.get("expected"), questions)
    else:
        _check_methods(where, sides, methods)


def check_stimulus_entry(where: str, field: str, entry: Any, base: str | None) -> None:
    """A stimulus: a file (or URL), and the sha256 of its bytes, required."""
    if not isinstance(entry, dict) or not (entry.get("file") or entry.get("url")):
        raise StudyImportError(f"{where} {field}: needs a file (or url)")
    file = entry.get("file")
    if file is not None and (not isinstance(file, str) or len(file) > FILE_MAX or CONTROL_RE.search(file)):
        raise StudyImportError(f"{where} {field}.file: must be a path relative to the study directory "
                           f"(at most {FILE_MAX} characters, no control characters)")
    if file and (Path(file).is_absolute() or ".." in Path(file).parts):
        raise StudyImportError(f"{where} {field}.file: {file!r} must stay inside the study directory")
    if file and Path(file).suffix.lower() not in IMAGE_SUFFIXES:
        # only images are ever served: never the raw maps, the manifest or the gallery
        raise StudyImportError(f"{where} {field}.file: {file!r} is not an image file ({', '.join(IMAGE_SUFFIXES)})")
    digest = entry.get("sha256")
    if not isinstance(digest, str) or not SHA256_RE.fullmatch(digest):
        got = "missing" if digest is None else f"{digest!r} is not 64 lower-case hex digits"
        raise StudyImportError(f"{where} {field}.sha256: {got}; every stimulus needs the sha256 of its bytes")
    url = entry.get("url")
    if url is not None:
        problem = url_problem(url, base)
        if problem:
            raise StudyImportError(f"{where} {field}.url: {problem}")


def url_problem(url: Any, base: str | None) -> str | None:
    """Why a stimulus URL may not reach a participant's page (None: it may).

    Relative URLs, and ``https:`` URLs under the study's own public storage
    (``storage.base_url``) only: ``http:`` is readable and changeable on the way,
    ``javascript:``/``data:`` and other schemes are not images from the study's storage,
    ``//host/...`` takes whatever scheme the page has, and a foreign host could serve
    other bytes than the manifest's sha256 (and learns who takes the study)."""
    if not isinstance(url, str) or not url or len(url) > URL_MAX:
        return f"{url!r} is not a URL string of at most {URL_MAX} characters"
    if URL_UNSAFE_RE.search(url):
        return f"{url!r} contains white space, a control character or a backslash"
    parts = urlsplit(url)
    if {".", ".."} & set(re.split(r"[/\\]", unquote(parts.path))):  # also escaped: %2e%2e, ..%2f
        return f"{url!r} has a '.' or '..' path segment (the browser would leave the folder it names)"
    if parts.scheme == "https":
        if not parts.hostname:
            return f"{url!r} has no host"
        if base is None or not url.startswith(base.rstrip("/") + "/"):
            return (f"{url!r} is not under the study's storage.base_url ({base or 'none set'}): "
                    "https: URLs may only point to the study's own public storage")
        return None
    if parts.scheme:
        return f"{url!r}: scheme {parts.scheme + ':'!r} is not allowed (relative or https: URLs only)"
    if parts.netloc or url.startswith("//"):
        return f"{url!r} names a host without a scheme (write https://...)"
    return None


def _storage_base_url(path: Path, storage: Any) -> str | None:
    """The manifest's public storage URL (an https: URL), or None when it has none."""
    base = storage.get("base_url") if isinstance(storage, dict) else None
    if base is None:
        return None
    parts = urlsplit(base) if isinstance(base, str) else None
    if parts is None or parts.scheme != "https" or not parts.hostname or URL_UNSAFE_RE.search(base):
        raise StudyImportError(f"{path}: storage.base_url: {base!r} must be an https: URL with a host")
    return base


def _check_distinct(where: str, a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in ("file", "url"):
        if a.get(key) and a.get(key) == b.get(key):
            raise StudyImportError(f"{where} sides.B.{key}: {b[key]!r} is also sides.A.{key} (each side needs its own image)")
    if a["sha256"] == b["sha256"]:
        raise StudyImportError(f"{where} sides.B.sha256: the same bytes as sides.A (each side needs its own image)")


def _check_methods(where: str, sides: dict[str, Any], methods: set[str]) -> None:
    for side in ("A", "B"):
        method = sides[side].get("method")
        if not isinstance(method, str) or method not in methods:
            raise StudyImportError(
                f"{where} sides.{side}.method: {method!r} is not one of the study's methods "
                f"({', '.join(sorted(methods)) or 'none'}; known: {', '.join(KNOWN_METHODS)})"
            )
    if sides["A"]["method"] == sides["B"]["method"]:
        raise StudyImportError(
            f"{where} sides.B.method: {sides['B']['method']!r} is sides.A.method too (a pair compares two methods)"
        )


def _check_expected(where: str, expected: Any, questions: list[str]) -> None:
    if not isinstance(expected, dict) or not expected:
        raise StudyImportError(f"{where} expected: an attention check needs the correct side per question")
    for q, side in expected.items():
        if q not in questions or side not in SIDES:
            raise StudyImportError(
                f"{where} expected: {q!r}: {side!r} is not a question id of the study "
                f"({', '.join(questions)}) mapped to one of {', '.join(SIDES)}"
            )

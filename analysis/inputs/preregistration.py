"""The pre-registration record: the analysis config, its hash and camstudy's version,
written before data collection, and the report's check against it.

`camstudy report --preregister --config study.toml --out prereg/` writes
`preregistration.json`; `camstudy report ... --preregistration prereg/preregistration.json`
compares the config in use with the registered one (key by key) and the registration time
with the first answer's time, and the report says what it found at the top.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from analysis.errors import AnalysisError
from analysis.inputs.load import read_document
from analysis.settings import AnalysisConfig
from camstudy import __version__ as camstudy_version

KIND = "camstudy-preregistration"
VERSIONS = (1,)


@dataclass(frozen=True)
class PreregistrationCheck:
    path: str
    registered_at: str
    camstudy_version: str
    sha256: str
    matches: bool                      # the config in use hashes to the registered one
    differences: tuple[str, ...]       # "key: registered X, used Y"
    before_data: bool | None           # registered before the first answer (None: no times)


def canonical(config: AnalysisConfig) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.model_dump().items()}


def config_hash(config: AnalysisConfig) -> str:
    text = json.dumps(canonical(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def write(config: AnalysisConfig, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "preregistration.json"
    path.write_text(json.dumps({
        "format_version": 1, "kind": KIND, "camstudy_version": camstudy_version,
        "registered_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sha256": config_hash(config), "analysis": canonical(config)}, indent=1))
    return path


def check(path: str | Path, config: AnalysisConfig, frame: pd.DataFrame) -> PreregistrationCheck:
    path = Path(path)
    doc = read_document(path, KIND, VERSIONS, "pre-registration")
    registered = doc.get("analysis")
    if not isinstance(registered, dict) or "sha256" not in doc or "registered_at" not in doc:
        raise AnalysisError(f"{path}: a pre-registration needs 'analysis', 'sha256' and "
                            "'registered_at'")
    used = canonical(config)
    differences = tuple(f"{k}: registered {registered.get(k)!r}, used {used.get(k)!r}"
                        for k in sorted(set(used) | set(registered))
                        if registered.get(k) != used.get(k))
    return PreregistrationCheck(
        path=str(path), registered_at=str(doc["registered_at"]),
        camstudy_version=str(doc.get("camstudy_version")), sha256=str(doc["sha256"]),
        matches=doc["sha256"] == config_hash(config) and not differences,
        differences=differences, before_data=_before_data(str(doc["registered_at"]), frame))


def _before_data(registered_at: str, frame: pd.DataFrame) -> bool | None:
    if "answered_at" not in frame:
        return None
    times = pd.to_datetime(frame["answered_at"], errors="coerce", utc=True).dropna()
    if times.empty:
        return None
    try:
        registered = pd.Timestamp(registered_at)
    except ValueError:
        return None
    if registered.tzinfo is None:
        registered = registered.tz_localize("UTC")
    return bool(registered < times.min())

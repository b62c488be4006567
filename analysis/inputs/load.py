"""Reading the responses export (CSV, JSON or a database view) and the manifest.

The formats are the contract in docs/formats.md. Everything downstream works on
one tidy frame with a few derived columns (`chose_gradcam`, `gradcam_on_a`), so
the statistics never re-parse strings.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError

RESPONSES_VERSIONS = (1,)
MANIFEST_VERSIONS = (1,)
HEADER_PREFIX = "# camstudy-responses format_version="

# Without these nothing can be analysed.
REQUIRED = ("participant_id", "pair_id", "question_id", "response_method",
            "left_method", "right_method", "is_attention_check")
# Without these one part of the report is skipped (and says why).
OPTIONAL = {
    "participant_completed": "the completion exclusion rule",
    "attention_correct": "the attention-check exclusion rule",
    "rt_ms": "the response-time exclusion rule",
    "class_name": "the per-class breakdown",
    "response_side": "nothing (it is derived from response_method and left_method)",
    "study_id": "the check that the export matches the manifest",
}
BOOLEAN_COLUMNS = ("participant_completed", "is_attention_check", "attention_correct")
METHODS = ("gradcam", "hirescam")
# Participant ids of `camstudy simulate --url` (simulated people taking the survey over
# HTTP); docs/webapp.md. They are stored and exported like anyone's answers. A copy of the
# participant simulator's SIM_PREFIX, on purpose: analysis meets the other packages only
# through documented files (the export's participant_id, docs/formats.md), never by
# importing their internals.
SIMULATED_PREFIX = "sim-"


@dataclass
class Responses:
    """The export as one frame, with what was noticed while reading it."""

    frame: pd.DataFrame
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def study_id(self) -> str | None:
        if "study_id" not in self.frame or self.frame["study_id"].isna().all():
            return None
        return str(self.frame["study_id"].dropna().iloc[0])


def read_responses(path: str | Path) -> Responses:
    """Read responses.csv or responses.json (chosen by the file's suffix)."""
    path = Path(path)
    if not path.exists():
        raise AnalysisError(f"{path}: responses export not found")
    notes: list[str] = []
    if path.suffix.lower() == ".json":
        frame = _read_json(path)
    else:
        frame = _read_csv(path, notes)
    responses = prepare(frame, str(path))
    responses.notes[:0] = notes
    return responses


SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs"}


def _read_csv(path: Path, notes: list[str]) -> pd.DataFrame:
    """The export, also after a round trip through a spreadsheet: a byte-order mark,
    `;` or tab separators, a dropped format line (read with a note) and empty rows."""
    try:
        # utf-8-sig: the same as utf-8, but a byte-order mark (spreadsheets write one) is removed.
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise AnalysisError(
            f"{path}: not UTF-8 text (byte {exc.start}); a spreadsheet may have saved it in "
            "another encoding: save it as 'CSV UTF-8'") from None
    if not lines:
        raise AnalysisError(f"{path}: the file is empty")
    first = lines[0].strip().lstrip("\"")
    if first.startswith(HEADER_PREFIX):
        _check_version(path, first[len(HEADER_PREFIX):].strip(" ,;\t\""), RESPONSES_VERSIONS,
                       "responses export")
        body = lines[1:]
    elif first.lstrip("\"").startswith("#"):
        raise AnalysisError(f"{path}: first line is {first[:60]!r}, expected "
                            f"'{HEADER_PREFIX}1' (the responses export, docs/formats.md)")
    else:
        body = lines
    if not body:
        raise AnalysisError(f"{path}: the export has a version line but no header or rows")
    sep = _separator(path, body[0])
    if body is lines:
        notes.append(f"{path}: the format line '{HEADER_PREFIX}1' is missing (a spreadsheet may "
                     "have dropped it); read as format version 1 because the columns match")
    if sep != ",":
        notes.append(f"{path}: columns are separated by {SEPARATORS[sep]}, not commas "
                     "(saved by a spreadsheet?); read accordingly")
    try:
        frame = pd.read_csv(io.StringIO("\n".join(body)), sep=sep, dtype=str,
                            keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise AnalysisError(f"{path}: cannot read the rows ({exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    # Spreadsheets keep rows that were only formatted: drop rows with no value at all.
    return frame[frame.astype(str).apply(lambda col: col.str.strip().ne("")).any(axis=1)]


def _separator(path: Path, header: str) -> str:
    """The separator under which the header names the required columns."""
    found = {sep: sum(c.strip().strip('"') in REQUIRED for c in header.split(sep))
             for sep in (",", ";", "\t")}
    best = max(found, key=found.get)
    if found[best] < len(REQUIRED):
        missing = [c for c in REQUIRED if c not in {x.strip().strip('"') for x in header.split(best)}]
        raise AnalysisError(
            f"{path}: missing columns: {', '.join(missing)} in the header {header[:80]!r} "
            f"(with or without the format line '{HEADER_PREFIX}1', the export needs "
            f"{', '.join(REQUIRED)}; docs/formats.md)")
    return best


def _read_json(path: Path) -> pd.DataFrame:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AnalysisError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != "camstudy-responses":
        raise AnalysisError(f"{path}: expected an object with kind 'camstudy-responses'")
    _check_version(path, data.get("format_version"), RESPONSES_VERSIONS, "responses export")
    rows = data.get("rows")
    if not isinstance(rows, list):
        raise AnalysisError(f"{path}: 'rows' must be a list of answers")
    frame = pd.DataFrame(rows)
    # JSON carries real booleans and numbers; normalise to the CSV's strings so one
    # code path parses both.
    return frame.astype(object).where(frame.notna(), "").astype(str)


def _check_version(path, found, known: tuple[int, ...], what: str) -> None:
    try:
        version = int(str(found).strip())
    except ValueError:
        version = None
    if version not in known:
        raise AnalysisError(
            f"{path}: {what} format_version {found!r} is not supported; "
            f"this version of analysis reads {', '.join(map(str, known))}"
        )


def prepare(frame: pd.DataFrame, source: str) -> Responses:
    """Validate the columns and derive what the statistics need."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise AnalysisError(
            f"{source}: missing columns: {', '.join(missing)} "
            f"(the responses export needs {', '.join(REQUIRED)}; see docs/formats.md)"
        )
    if frame.empty:
        raise AnalysisError(f"{source}: the export has no answers (no rows after the header)")
    notes = [f"{source}: column '{c}' is missing, so {use} is skipped"
             for c, use in OPTIONAL.items() if c not in frame.columns and c != "response_side"]
    frame = frame.copy()
    for col in ("participant_id", "pair_id", "question_id", "response_method",
                "left_method", "right_method"):
        frame[col] = frame[col].astype(str).str.strip()
    for col in BOOLEAN_COLUMNS:
        if col in frame.columns:
            frame[col] = _parse_bool(frame[col], col, source)
    if "rt_ms" in frame.columns:
        frame["rt_ms"] = pd.to_numeric(frame["rt_ms"].replace("", np.nan), errors="coerce")
    if "class_name" in frame.columns:
        frame["class_name"] = frame["class_name"].astype(str)
    _derive(frame, source, notes)
    return Responses(frame=frame, source=source, notes=notes)


def _parse_bool(values: pd.Series, col: str, source: str) -> pd.Series:
    text = values.astype(str).str.strip().str.lower()
    mapping = {"true": True, "1": True, "false": False, "0": False, "": None}
    bad = sorted(set(text) - set(mapping))
    if bad:
        raise AnalysisError(
            f"{source}: column '{col}' has values {bad[:5]}; expected true/false"
        )
    return text.map(mapping).astype(object)


def _derive(frame: pd.DataFrame, source: str, notes: list[str]) -> None:
    method = frame["response_method"]
    allowed = set(METHODS) | {"same", "cam", ""}
    bad = sorted(set(method) - allowed)
    if bad:
        raise AnalysisError(
            f"{source}: column 'response_method' has values {bad[:5]}; "
            "expected gradcam, hirescam, same (or empty for attention checks)"
        )
    # 1 = chose Grad-CAM, 0 = chose HiResCAM, NaN = "about the same" or not a comparison.
    frame["chose_gradcam"] = method.map({"gradcam": 1.0, "hirescam": 0.0}).astype(float)
    frame["is_tie"] = method.eq("same")
    frame["gradcam_on_a"] = frame["left_method"].eq("gradcam")
    if "response_side" not in frame.columns:
        frame["response_side"] = np.where(
            frame["is_tie"], "same",
            np.where(method.eq(frame["left_method"]), "A", "B"))
    attention = frame["is_attention_check"].fillna(False).astype(bool)
    frame["is_attention_check"] = attention
    pair_methods = frame["left_method"] + "/" + frame["right_method"]
    compares = pair_methods.isin(["gradcam/hirescam", "hirescam/gradcam"])
    frame["is_comparison"] = compares & ~attention
    other = int((~compares & ~attention).sum())
    if other:
        notes.append(
            f"{source}: {other} answers compare methods other than Grad-CAM vs HiResCAM "
            "(or have no methods although they are not attention checks); they are not analysed"
        )


@dataclass(frozen=True)
class SimulatedShare:
    """How many of the export's participants are simulated (not people)."""

    simulated: int
    participants: int
    excluded: bool  # left out of the analysis (--exclude-simulated)


def simulated_share(responses: Responses, excluded: bool = False) -> SimulatedShare:
    ids = responses.frame["participant_id"].drop_duplicates()
    return SimulatedShare(int(ids.str.startswith(SIMULATED_PREFIX).sum()), len(ids), excluded)


def without_simulated(responses: Responses) -> Responses:
    """The export without its simulated participants' answers."""
    keep = ~responses.frame["participant_id"].str.startswith(SIMULATED_PREFIX)
    if not keep.any():
        raise AnalysisError(
            f"{responses.source}: every participant is simulated (ids starting with "
            f"'{SIMULATED_PREFIX}'), so nothing is left to analyse with --exclude-simulated"
        )
    return Responses(frame=responses.frame[keep].reset_index(drop=True),
                     source=responses.source, notes=list(responses.notes))


@dataclass
class Manifest:
    """The generator's record of the study, reduced to what analysis needs."""

    study_id: str
    pairs: pd.DataFrame  # one row per comparison pair, metrics per method
    path: Path
    raw: dict


def read_document(path: Path, kind: str, versions: tuple[int, ...], what: str) -> dict:
    """A camstudy JSON file: exists, parses, has the expected ``kind`` and a known version."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnalysisError(f"{path}: {what} not found") from None
    except json.JSONDecodeError as exc:
        raise AnalysisError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise AnalysisError(f"{path}: expected an object with kind '{kind}'")
    _check_version(path, data.get("format_version"), versions, what)
    return data


def read_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    data = read_document(path, "camstudy-manifest", MANIFEST_VERSIONS, "manifest")
    if not isinstance(data.get("pairs"), list):
        raise AnalysisError(f"{path}: 'pairs' must be a list")
    rows = [_pair_row(path, p) for p in data["pairs"] if not p.get("is_attention_check")]
    columns = ["pair_id", "image_id", "class_name", "gradcam_side", "original_file",
               "gradcam_file", "hirescam_file"] + [
        f"{m}_{k}" for m in METHODS for k in ("area_above_half", "entropy")]
    pairs = pd.DataFrame(rows, columns=columns)
    return Manifest(study_id=str(data.get("study_id")), pairs=pairs, path=path, raw=data)


def _pair_row(path: Path, pair: dict) -> dict:
    try:
        sides = pair["sides"]
        by_method = {sides[s]["method"]: (s, sides[s]) for s in ("A", "B")}
        row = {"pair_id": pair["pair_id"], "image_id": pair.get("image_id"),
               "class_name": pair.get("class_name"),
               "original_file": (pair.get("original") or {}).get("file")}
        if set(by_method) != set(METHODS):
            # A pair comparing other methods (e.g. cam) has no Grad-CAM/HiResCAM metrics.
            return row
        row["gradcam_side"] = by_method["gradcam"][0]
        for method, (_, side) in by_method.items():
            metrics = side.get("metrics") or {}
            row[f"{method}_file"] = side.get("file")
            row[f"{method}_area_above_half"] = metrics.get("area_above_half")
            row[f"{method}_entropy"] = metrics.get("entropy")
        return row
    except (KeyError, TypeError) as exc:
        raise AnalysisError(
            f"{path}: pair {pair.get('pair_id', '?')!r} lacks {exc} (see docs/formats.md)"
        ) from None

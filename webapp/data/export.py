"""The tidy responses export (docs/formats.md, "Responses export"): one row per answer.

Practice trials are left out. Booleans are ``true``/``false`` in the CSV and JSON
booleans in the JSON export; empty CSV cells are ``null`` in JSON. Participant-level
values (completion, verification, questionnaire answers) repeat on each of the
participant's rows; ``server_ms`` is the trial's server-side duration.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.data.tables import Pair, Participant, Response, Study, Trial

FORMAT_VERSION = 1
COLUMNS = [
    "study_id", "participant_id", "source", "participant_completed", "verification", "trial_index", "pair_id",
    "image_id", "class_name", "question_id", "response_side", "response_method", "left_method",
    "right_method", "is_attention_check", "attention_correct", "rt_ms", "server_ms", "answered_at",
    "questionnaire_familiarity", "questionnaire_comments",
]
QUESTIONNAIRE_FIELDS = ("familiarity", "comments")
# Free text that starts with one of these runs as a formula when the CSV is opened in a
# spreadsheet: the CSV (and the database view) put an apostrophe before it; JSON keeps it as typed.
FORMULA_START = ("=", "+", "-", "@")
FREE_TEXT = ("questionnaire_comments",)


def iso_utc(ts: datetime) -> str:
    return ts.replace(microsecond=(ts.microsecond // 1000) * 1000).isoformat(timespec="milliseconds") + "Z"


def rows(session: Session, study_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Export rows with Python values (bool, int, None), in a stable order."""
    q = (
        select(Response, Trial, Participant, Pair, Study.study_id)
        .join(Trial, Response.trial_pk == Trial.id)
        .join(Participant, Response.participant_pk == Participant.id)
        .join(Pair, Trial.pair_pk == Pair.id)
        .join(Study, Participant.study_pk == Study.id)
        .where(Trial.is_practice.is_(False))
        .order_by(Study.id, Participant.id, Trial.trial_index, Response.id)
    )
    if study_id is not None:
        q = q.where(Study.study_id == study_id)
    for r, t, p, pair, sid in session.execute(q):
        yield {
            "study_id": sid,
            "participant_id": p.participant_id,
            "source": p.source,
            "participant_completed": p.completed_at is not None,
            "verification": p.verification,
            "trial_index": t.trial_index,
            "pair_id": pair.pair_id,
            "image_id": pair.image_id,
            "class_name": pair.class_name,
            "question_id": r.question_id,
            "response_side": r.response_side,
            "response_method": r.response_method,
            "left_method": t.left_method,
            "right_method": t.right_method,
            "is_attention_check": t.is_attention_check,
            "attention_correct": r.attention_correct,
            "rt_ms": r.rt_ms,
            "server_ms": t.server_ms,
            "answered_at": iso_utc(r.answered_at),
            **questionnaire_columns(p.questionnaire),
        }


def questionnaire_columns(answers: dict[str, Any] | None) -> dict[str, Any]:
    """The participant's questionnaire answers as export columns (None: not answered)."""
    answers = answers if isinstance(answers, dict) else {}
    return {f"questionnaire_{k}": answers.get(k) for k in QUESTIONNAIRE_FIELDS}


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _csv_cell(column: str, v: Any) -> str:
    text = _cell(v)
    return "'" + text if column in FREE_TEXT and text.startswith(FORMULA_START) else text


def to_csv(session: Session, study_id: str | None = None, *, data: list[dict[str, Any]] | None = None) -> str:
    """The CSV export (``data``: the rows, when the caller has read them already)."""
    buf = io.StringIO()
    buf.write(f"# camstudy-responses format_version={FORMAT_VERSION}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for row in rows(session, study_id) if data is None else data:
        w.writerow([_csv_cell(c, row[c]) for c in COLUMNS])
    return buf.getvalue()


def to_json(session: Session, study_id: str | None = None, *, data: list[dict[str, Any]] | None = None) -> str:
    """The JSON export (``data``: the rows, when the caller has read them already)."""
    doc = {"format_version": FORMAT_VERSION, "kind": "camstudy-responses",
           "rows": list(rows(session, study_id)) if data is None else data}
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"

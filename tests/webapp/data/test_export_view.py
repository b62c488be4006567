"""The `responses_export` view (migration 0002) equals the tidy export, and
`analysis/report.py --db URL` reads it, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.webapp.helpers import Walker
from webapp.data import export
from webapp.data.engine import make_engine
from webapp.data.export import COLUMNS


def walk(app, pid: str, sides=None, complete: bool = True) -> Walker:
    w = Walker(app.test_client()).begin_lab_session(pid)
    if complete:
        w.finish(sides)
    else:  # the practice trial and the first real trial, then leave
        for _ in range(2):
            state = w.current()
            assert "/trial/" in state["next_url"]
            assert w.answer(state["next_trial"], sides).status_code == 201
    return w


def csv_rows(url: str) -> list[dict[str, str]]:
    engine = make_engine(url)
    with Session(engine) as session:
        text = export.to_csv(session)
    engine.dispose()
    first, rest = text.split("\n", 1)
    assert first == "# camstudy-responses format_version=1"
    return list(csv.DictReader(io.StringIO(rest)))


def view_rows(url: str) -> list[dict[str, str]]:
    """The view's rows with values written as the CSV writes them."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        result = conn.execute(sa.text("SELECT * FROM responses_export"))
        keys = list(result.keys())
        raw = [dict(zip(keys, row)) for row in result]
    engine.dispose()
    assert keys == COLUMNS

    def cell(v) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return [{k: cell(v) for k, v in r.items()} for r in raw]


def order(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(rows, key=lambda r: (r["study_id"], r["participant_id"], int(r["trial_index"]),
                                       r["question_id"]))


def test_view_rows_equal_the_csv_export(make_app, any_db_url):
    app = make_app(any_db_url)
    walk(app, "V1")
    walk(app, "V2", {"larger": "B", "focused": "same"})
    walk(app, "V3", {"larger": "same", "focused": "A"}, complete=False)
    expected = csv_rows(any_db_url)
    got = view_rows(any_db_url)
    # 2 complete x 5 trials x 2 questions + 1 real trial x 2 questions; practice left out
    assert len(expected) == 2 * 5 * 2 + 2
    assert got == expected  # the view keeps the export's order too
    assert order(got) == order(expected)
    values = {c: {r[c] for r in got} for c in ("participant_completed", "is_attention_check",
                                               "attention_correct", "response_side")}
    assert values["participant_completed"] == {"true", "false"}
    assert values["is_attention_check"] == {"true", "false"}
    assert values["attention_correct"] == {"true", "false", ""}
    assert values["response_side"] == {"A", "B", "same"}
    assert all(r["answered_at"].endswith("Z") and len(r["answered_at"]) == 24 for r in got)


def test_view_goes_with_the_migration(make_app, any_db_url):
    from webapp.data.migrate import downgrade, upgrade

    make_app(any_db_url)
    engine = make_engine(any_db_url)
    assert "responses_export" in sa.inspect(engine).get_view_names()
    downgrade(any_db_url, "0001")
    assert "responses_export" not in sa.inspect(engine).get_view_names()
    upgrade(any_db_url)
    assert "responses_export" in sa.inspect(engine).get_view_names()
    engine.dispose()


def test_report_reads_the_view_read_only(make_app, any_db_url, tmp_path):
    from analysis.cli import report_main as main

    app = make_app(any_db_url)
    for pid in ("R1", "R2", "R3"):
        walk(app, pid)
    rows = csv_rows(any_db_url)
    out = tmp_path / "report"
    config = tmp_path / "study.toml"  # the walkers answer at script speed: keep them in anyway
    config.write_text("[analysis]\nmin_median_server_ms = 0\n")
    assert main(["--db", any_db_url, "--out", str(out), "--no-mixed", "--no-figures", "--config", str(config)]) == 0
    doc = json.loads((out / "results.json").read_text())
    judged = {q["question"]: q["proportion"]["counts"] for q in doc["questions"]}
    assert set(judged) == {"larger", "focused"}
    for question, counts in judged.items():
        n = sum(1 for r in rows if r["question_id"] == question and r["is_attention_check"] == "false")
        assert n == 3 * 4
        assert counts["gradcam"] + counts["hirescam"] + counts["same"] == n
    assert csv_rows(any_db_url) == rows  # nothing was written

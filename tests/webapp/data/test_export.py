"""The tidy export (docs/formats.md) through the CLI and the admin area."""
from __future__ import annotations

import csv
import io
import json

import pytest

from tests.webapp.helpers import Walker
from webapp.cli import db_main, export_main, import_main
from webapp.data.export import COLUMNS


def complete_session(app, pid: str, sides=None) -> Walker:
    w = Walker(app.test_client()).begin_lab_session(pid)
    w.finish(sides)
    return w


def read_csv(text: str) -> list[dict[str, str]]:
    first, rest = text.split("\n", 1)
    assert first == "# camstudy-responses format_version=1"
    return list(csv.DictReader(io.StringIO(rest)))


@pytest.fixture
def answered_app(make_app, any_db_url):
    app = make_app(any_db_url)
    complete_session(app, "E1", {"larger": "A", "focused": "same"})
    complete_session(app, "E2", {"larger": "B", "focused": "B"})
    return app, any_db_url


def test_cli_export_writes_one_row_per_answer_in_the_documented_columns(answered_app, tmp_path, capsys):
    app, url = answered_app
    out = tmp_path / "responses.csv"
    assert export_main(["--out", str(out), "--database-url", url]) == 0
    rows = read_csv(out.read_text())
    assert list(rows[0]) == COLUMNS
    assert len(rows) == 2 * 2 * 5  # 2 participants x 2 questions x 5 trials (practice left out)
    assert "wrote 20 answers" in capsys.readouterr().out
    for r in rows:
        assert r["trial_index"] in {"0", "1", "2", "3", "4"} and r["source"] == "lab"
        assert r["participant_completed"] == "true" and r["answered_at"].endswith("Z")
        if r["is_attention_check"] == "true":
            assert r["response_method"] == r["left_method"] == r["right_method"] == ""
            assert r["attention_correct"] in {"true", "false"}
        else:
            assert {r["left_method"], r["right_method"]} == {"gradcam", "hirescam"}
            assert r["attention_correct"] == ""
            expected = {"A": r["left_method"], "B": r["right_method"], "same": "same"}[r["response_side"]]
            assert r["response_method"] == expected


def test_attention_correct_follows_the_expected_side(answered_app, tmp_path):
    app, url = answered_app
    out = tmp_path / "r.csv"
    export_main(["--out", str(out), "--database-url", url])
    checks = {(r["participant_id"], r["question_id"]): r["attention_correct"]
              for r in read_csv(out.read_text()) if r["is_attention_check"] == "true"}
    # expected: larger=A, focused=B. E1 answered A/same, E2 answered B/B
    assert checks == {("E1", "larger"): "true", ("E1", "focused"): "false",
                      ("E2", "larger"): "false", ("E2", "focused"): "true"}


def test_json_export_has_the_same_rows_with_typed_values(answered_app, tmp_path):
    app, url = answered_app
    out = tmp_path / "responses.json"
    export_main(["--out", str(out), "--json", "--database-url", url])
    doc = json.loads(out.read_text())
    assert doc["format_version"] == 1 and doc["kind"] == "camstudy-responses" and len(doc["rows"]) == 20
    row = doc["rows"][0]
    assert list(row) == COLUMNS and isinstance(row["rt_ms"], int) and isinstance(row["is_attention_check"], bool)


def test_cli_db_import_export_round_trip(tmp_path, make_study, capsys):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    d = make_study()
    assert import_main([str(d), "--database-url", url]) == 1  # no schema yet
    assert "run `camstudy db upgrade`" in capsys.readouterr().err
    assert db_main(["upgrade", "--database-url", url]) == 0
    assert db_main(["current", "--database-url", url]) == 0
    assert "(latest)" in capsys.readouterr().out
    assert import_main([str(d), "--database-url", url]) == 0
    assert import_main([str(d), "--database-url", url]) == 0
    assert "already imported, unchanged" in capsys.readouterr().out
    m = d / "manifest.json"
    m.write_text(m.read_text().replace('"circle"', '"disc"'))
    assert import_main([str(d), "--database-url", url]) == 1
    assert "different manifest" in capsys.readouterr().err
    assert export_main(["--out", str(tmp_path / "x.csv"), "--database-url", url]) == 0
    assert read_csv((tmp_path / "x.csv").read_text()) == []

"""Simulated participants (ids starting with 'sim-') in the report: announced at the top,
left out with --exclude-simulated."""
from __future__ import annotations

import json

from analysis.cli import report_main
from tests.analysis.helpers import counts_rows, write_csv

PEOPLE = {"P01": (7, 3, 0), "P02": (6, 4, 0), "P03": (8, 2, 0), "P04": (6, 3, 1)}
SIMULATED = {"sim-ab12-00000": (9, 1, 0), "sim-ab12-00001": (8, 2, 0), "sim-ab12-00002": (9, 1, 0)}


def make_report(tmp_path, people: dict, *extra: str):
    export = write_csv(counts_rows(people), tmp_path / "responses.csv")
    out = tmp_path / ("report" + "".join(extra))
    code = report_main(["--responses", export, "--out", str(out), "--no-figures", "--no-mixed", *extra])
    return code, out


def test_report_with_simulated_participants_says_so_at_the_top(tmp_path, capsys):
    code, out = make_report(tmp_path, {**PEOPLE, **SIMULATED})
    assert code == 0
    html = (out / "report.html").read_text()
    banner = html.index('id="simulated"')
    assert banner < html.index('id="headline"')
    assert "3 of 7 participants are simulated, not people" in html
    assert "--exclude-simulated" in html and "<title>[simulated data]" in html
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("SIMULATED DATA: 3 of 7 participants are simulated")
    notes = json.loads((out / "results.json").read_text())["notes"]
    assert any("3 of 7 participants are simulated" in n for n in notes)
    assert json.loads((out / "results.json").read_text())["flow"]["steps"][0]["participants"] == 7


def test_exclude_simulated_leaves_them_out_and_says_so(tmp_path, capsys):
    code, out = make_report(tmp_path, {**PEOPLE, **SIMULATED}, "--exclude-simulated")
    assert code == 0
    html = (out / "report.html").read_text()
    assert "Simulated participants left out." in html and "everything below comes from the other 4" in html
    assert "[simulated data]" not in html
    doc = json.loads((out / "results.json").read_text())
    assert doc["flow"]["steps"][0]["participants"] == 4
    larger = next(q for q in doc["questions"] if q["question"] == "larger")
    counts = larger["proportion"]["counts"]
    assert (counts["gradcam"], counts["hirescam"], counts["same"]) == (27, 12, 1)  # PEOPLE's answers only
    assert "3 simulated participant(s)" in capsys.readouterr().out


def test_report_without_simulated_participants_has_no_banner(tmp_path):
    code, out = make_report(tmp_path, PEOPLE)
    assert code == 0
    html = (out / "report.html").read_text()
    assert 'id="simulated"' not in html and "[simulated data]" not in html


def test_excluding_everyone_is_a_clear_error(tmp_path, capsys):
    code, _ = make_report(tmp_path, SIMULATED, "--exclude-simulated")
    assert code == 2
    assert "every participant is simulated" in capsys.readouterr().err

"""The pre-registration record and the report's check against it."""
from __future__ import annotations

import json

import pytest

from analysis.cli import report_main
from tests.analysis.helpers import counts_rows, write_csv


@pytest.fixture()
def export(tmp_path):
    return write_csv(counts_rows({"a": (6, 2, 1), "b": (5, 3, 0), "c": (7, 1, 0)}),
                     tmp_path / "responses.csv")


def preregister(tmp_path, toml: str):
    config = tmp_path / "study.toml"
    config.write_text(toml)
    assert report_main(["--preregister", "--config", str(config), "--out", str(tmp_path / "pre")]) == 0
    return config, tmp_path / "pre" / "preregistration.json"


def run(tmp_path, export, config, prereg, capsys):
    out = tmp_path / "rep"
    assert report_main(["--responses", export, "--config", str(config), "--preregistration",
                        str(prereg), "--out", str(out), "--no-figures"]) == 0
    return (out / "report.html").read_text(), capsys.readouterr().out


def test_preregistration_records_the_config_its_hash_and_the_version(tmp_path):
    _, prereg = preregister(tmp_path, "[analysis]\nalpha = 0.01\nmixed_model = false\n")
    doc = json.loads(prereg.read_text())
    assert doc["kind"] == "camstudy-preregistration" and doc["analysis"]["alpha"] == 0.01
    assert len(doc["sha256"]) == 64 and doc["camstudy_version"]


def test_report_confirms_a_matching_config_registered_before_the_data(tmp_path, export, capsys):
    config, prereg = preregister(tmp_path, "[analysis]\nalpha = 0.01\nmixed_model = false\n")
    doc = json.loads(prereg.read_text())
    doc["registered_at"] = "2025-06-01T00:00:00+00:00"   # before the export's answers
    prereg.write_text(json.dumps(doc))
    html, printed = run(tmp_path, export, config, prereg, capsys)
    assert "The analysis config used here is the registered one." in html
    assert "registered before the first answer" in html and "WARNING" not in printed


def test_report_names_every_change_from_the_registration(tmp_path, export, capsys):
    config, prereg = preregister(tmp_path, "[analysis]\nalpha = 0.01\nmixed_model = false\n")
    config.write_text("[analysis]\nalpha = 0.05\nmax_failed_attention_checks = 3\nmixed_model = false\n")
    html, printed = run(tmp_path, export, config, prereg, capsys)
    assert "differs from the registered one" in html
    assert "alpha: registered 0.01, used 0.05" in html
    assert "max_failed_attention_checks: registered 1, used 3" in printed
    # Registered now, the answers are from January 2026 (counts_rows): after the data.
    assert "registered after the first answer" in html

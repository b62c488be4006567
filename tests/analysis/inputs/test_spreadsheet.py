"""An export that went through a spreadsheet gives the same numbers as the original,
and a file that cannot be read is refused with its real cause."""
from __future__ import annotations

import dataclasses

import pytest

from analysis.errors import AnalysisError
from analysis.inputs.load import read_responses
from analysis.reporting.analyse import analyse
from analysis.settings import AnalysisConfig
from analysis.stats.results import to_jsonable
from analysis.synthetic import SimulationSpec, simulate_responses

HEADER = "# camstudy-responses format_version=1\n"


@pytest.fixture(scope="module")
def export():
    spec = SimulationSpec(participants=12, pairs=8, careless_rate=0.2, attention_checks=2, seed=4)
    return simulate_responses(spec)


def numbers(path) -> dict:
    study, _ = analyse(read_responses(path), None, AnalysisConfig(mixed_model=False),
                       sensitivity=False)
    doc = to_jsonable(dataclasses.replace(study, source="", notes=()))
    return doc


def save(path, text: str, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture(scope="module")
def original(export, tmp_path_factory):
    path = tmp_path_factory.mktemp("orig") / "responses.csv"
    save(path, HEADER + export.to_csv(index=False))
    return numbers(path)


@pytest.mark.parametrize("variant, note", [
    ("no format line", "format line '# camstudy-responses format_version=1' is missing"),
    ("byte-order mark", None),
    ("semicolons, BOM, no format line", "separated by semicolons"),
    ("tabs", "separated by tabs"),
    ("semicolons with the format line in a cell", "separated by semicolons"),
])
def test_spreadsheet_export_gives_the_same_numbers(export, original, tmp_path, variant, note):
    text = {
        "no format line": export.to_csv(index=False),
        "byte-order mark": "\ufeff" + HEADER + export.to_csv(index=False),
        "semicolons, BOM, no format line": "\ufeff" + export.to_csv(index=False, sep=";"),
        "tabs": HEADER + export.to_csv(index=False, sep="\t"),
        "semicolons with the format line in a cell": (
            HEADER.strip() + ";" * (len(export.columns) - 1) + "\n"
            + export.to_csv(index=False, sep=";") + ";" * (len(export.columns) - 1) + "\n"),
    }[variant]
    path = save(tmp_path / "responses.csv", text)
    assert numbers(path) == original
    notes = read_responses(path).notes
    if note:
        assert any(note in n for n in notes), notes


def test_a_file_saved_in_another_encoding_is_refused_with_that_cause(export, tmp_path):
    frame = export.copy()
    frame.loc[0, "class_name"] = "café"
    path = save(tmp_path / "responses.csv", HEADER + frame.to_csv(index=False), encoding="cp1252")
    with pytest.raises(AnalysisError, match="not UTF-8 text.*save it as 'CSV UTF-8'"):
        read_responses(path)


def test_a_header_without_the_needed_columns_names_them(export, tmp_path):
    path = save(tmp_path / "responses.csv",
                export.drop(columns=["pair_id", "left_method"]).to_csv(index=False))
    with pytest.raises(AnalysisError, match="missing columns: pair_id, left_method"):
        read_responses(path)


def test_a_comment_line_that_is_not_the_format_line_is_refused(tmp_path):
    path = save(tmp_path / "responses.csv", "# something else\nparticipant_id\n")
    with pytest.raises(AnalysisError, match="expected '# camstudy-responses format_version=1'"):
        read_responses(path)

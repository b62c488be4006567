"""Bad input gets a message naming the problem; what can be computed still is."""
from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.inputs.database import read_database
from analysis.inputs.exclusions import apply_exclusions
from analysis.inputs.load import Responses, read_manifest, read_responses
from analysis.reporting.analyse import analyse
from analysis.settings import AnalysisConfig, load_config
from analysis.stats.results import Skipped
from analysis.synthetic import COLUMNS
from tests.analysis.helpers import answer, attention, counts_rows, frame_of, write_csv


def run(rows, config=AnalysisConfig(mixed_model=False), manifest=None):
    return analyse(Responses(frame_of(rows), "test"), manifest, config)[0]


def test_unknown_key_in_analysis_section_names_file_key_and_expected(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text("[model]\narch = 'x'\n[analysis]\nalpah = 0.05\n")
    with pytest.raises(AnalysisError, match=r"study.toml: unknown key 'alpah' in \[analysis\] \(did you mean 'alpha'\?\); expected one of: alpha"):
        load_config(path)


def test_bad_value_in_analysis_section_says_what_was_expected(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text("[analysis]\nties = 'coin-flip'\n")
    with pytest.raises(AnalysisError, match=r"\[analysis\] ties must be one of \"exclude\", \"split\", got 'coin-flip'"):
        load_config(path)


def test_config_is_read_beside_other_packages_sections(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text("[survey]\ntitle = 'x'\n[analysis]\nalpha = 0.01\n"
                    "primary_questions = ['larger']\nmin_median_rt_ms = 500\n")
    config = load_config(path)
    assert (config.alpha, config.primary_questions, config.min_median_rt_ms) == (0.01, ("larger",), 500.0)


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "responses.csv"
    path.write_text("# camstudy-responses format_version=1\nparticipant_id,pair_id\nw1,p1\n")
    with pytest.raises(AnalysisError, match="missing columns: question_id, response_method, left_method"):
        read_responses(path)


def test_empty_export_says_it_has_no_answers(tmp_path):
    path = write_csv([], tmp_path / "responses.csv")
    with pytest.raises(AnalysisError, match="has no answers"):
        read_responses(path)


def test_unknown_format_version_is_refused(tmp_path):
    path = tmp_path / "responses.csv"
    path.write_text("# camstudy-responses format_version=7\n" + ",".join(COLUMNS) + "\n")
    with pytest.raises(AnalysisError, match="format_version '7' is not supported; this version of analysis reads 1"):
        read_responses(path)


def test_json_export_with_real_booleans_and_nulls_reads_like_the_csv(tmp_path):
    rows = counts_rows({"a": (2, 1, 1)})
    for r in rows:
        r.update(participant_completed=True, is_attention_check=False, attention_correct=None,
                 rt_ms=1500, trial_index=0)
    path = tmp_path / "responses.json"
    path.write_text(json.dumps({"format_version": 1, "kind": "camstudy-responses", "rows": rows}))
    frame = read_responses(path).frame
    assert frame["chose_gradcam"].sum() == 2 and frame["is_tie"].sum() == 1
    assert frame["participant_completed"].all() and frame["rt_ms"].eq(1500).all()


def test_single_participant_gives_counts_and_explains_the_rest():
    study = run(counts_rows({"only": (8, 2, 0)}))
    q = study.questions[0]
    assert q.proportion.counts.gradcam == 8 and q.participant.participants == 1
    assert isinstance(q.model, Skipped) and "at least 2 participants" in q.model.reason
    assert study.decisions == ()


def test_all_ties_skips_the_proportion_but_reports_the_counts():
    study = run(counts_rows({"a": (0, 0, 4), "b": (0, 0, 4)}))
    q = study.questions[0]
    assert q.proportion.counts.same == 8
    assert q.proportion.share is None and q.proportion.share_ties_split == pytest.approx(0.5)
    assert isinstance(q.model, Skipped) and "no decided answers" in q.model.reason


def test_primary_question_without_answers_is_explained_and_left_out_of_holm():
    study = run(counts_rows({"a": (6, 2, 0), "b": (5, 3, 0)}))
    focused = next(q for q in study.questions if q.question == "focused")
    assert "question 'focused' has no answers" in focused.proportion.reason
    assert {d.question for d in study.decisions} == {"larger"}
    assert any("Primary question 'focused' has no answers" in n for n in study.notes)


def test_exclusion_rules_apply_in_order_and_count_each_participant_once():
    rows = counts_rows({"ok": (3, 1, 0), "quitter": (3, 1, 0), "careless": (3, 1, 0),
                        "fast": (3, 1, 0)})
    for r in rows:
        if r["participant_id"] == "quitter":
            r["participant_completed"] = "false"
        if r["participant_id"] == "fast":
            r["rt_ms"] = "300"
    rows += [attention("careless", False), attention("quitter", False, completed=False), attention("ok", True)]
    config = AnalysisConfig(max_failed_attention_checks=0, min_median_rt_ms=800)
    analysed, flow = apply_exclusions(frame_of(rows), config)
    assert [s.participants for s in flow.steps] == [4, 3, 1, 1, 1, 1]
    assert set(analysed["participant_id"]) == {"ok"}


def test_manifest_of_another_study_is_not_used(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"format_version": 1, "kind": "camstudy-manifest",
                                    "study_id": "other", "pairs": []}))
    study = run(counts_rows({"a": (3, 1, 0), "b": (2, 2, 0)}), manifest=read_manifest(manifest))
    assert any("study_id 'other' does not match the export's 't'" in n for n in study.notes)
    assert isinstance(study.questions[0].objective, Skipped)


def test_database_view_shaped_like_the_export_is_read(tmp_path):
    db = tmp_path / "camstudy.db"
    with sqlite3.connect(db) as conn:
        pd.DataFrame(counts_rows({"a": (3, 1, 0)}), columns=COLUMNS).to_sql(
            "responses_export", conn, index=False)
    responses = read_database(f"sqlite:///{db}")
    assert responses.frame["chose_gradcam"].sum() == 3


def test_database_without_the_view_says_what_to_do_instead(tmp_path):
    db = tmp_path / "camstudy.db"
    sqlite3.connect(db).close()
    with pytest.raises(AnalysisError, match="no table or view named 'responses_export'.*camstudy export"):
        read_database(f"sqlite:///{db}")


def test_missing_database_file_is_not_created(tmp_path):
    with pytest.raises(AnalysisError, match="cannot open the database read-only"):
        read_database(f"sqlite:///{tmp_path / 'nope.db'}")
    assert not (tmp_path / "nope.db").exists()


def test_class_column_missing_skips_only_the_breakdown(tmp_path):
    rows = counts_rows({"a": (3, 1, 0), "b": (3, 1, 0)})
    path = tmp_path / "responses.csv"
    with open(path, "w") as fh:
        fh.write("# camstudy-responses format_version=1\n")
        pd.DataFrame(rows, columns=COLUMNS).drop(columns=["class_name"]).to_csv(fh, index=False)
    responses = read_responses(path)
    assert any("class_name" in n and "per-class breakdown" in n for n in responses.notes)
    q = analyse(responses, None, AnalysisConfig(mixed_model=False))[0].questions[0]
    assert isinstance(q.classes, Skipped) and q.proportion.counts.gradcam == 6


def test_default_attention_rule_keeps_attentive_people_and_drops_careless_ones():
    # The attack on the old default (no failed answer allowed, each question of a check
    # trial counted): 4 check trials x 2 questions gave 8 chances to slip, and 7 of 30
    # attentive simulated people were excluded.
    from analysis.inputs.load import prepare
    from analysis.synthetic import SimulationSpec, simulate_responses

    attentive = prepare(simulate_responses(SimulationSpec(
        participants=30, pairs=6, attention_checks=4, seed=1)), "s").frame
    checks = attentive[attentive["is_attention_check"]]
    old_rule = checks["attention_correct"].eq(False).groupby(checks["participant_id"]).sum() > 0
    assert old_rule.sum() >= 4  # what the old default would have excluded
    _, flow = apply_exclusions(attentive, AnalysisConfig())
    assert flow.analysed >= 29
    assert "failed more than 1 attention-check trial(s)" in flow.steps[-2].label
    careless = prepare(simulate_responses(SimulationSpec(
        participants=30, pairs=6, attention_checks=4, careless_rate=1.0, seed=2)), "s").frame
    _, flow = apply_exclusions(careless, AnalysisConfig())
    assert flow.analysed <= 6   # answering at random fails 3 of 4 check trials on average


def test_a_check_trial_counts_once_however_many_questions_it_asks():
    rows = counts_rows({"p": (3, 1, 0)})
    rows += [attention("p", False, question="larger"), attention("p", False, question="focused")]
    for r in rows[-2:]:
        r["pair_id"] = "att1"
    _, flow = apply_exclusions(frame_of(rows), AnalysisConfig(max_failed_attention_checks=1))
    assert flow.analysed == 1   # one failed trial (two wrong answers) is within the tolerance
    rows += [attention("p", False)]
    rows[-1]["pair_id"] = "att2"
    _, flow = apply_exclusions(frame_of(rows), AnalysisConfig(max_failed_attention_checks=1))
    assert flow.analysed == 0

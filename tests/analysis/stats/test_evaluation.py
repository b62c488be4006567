"""The report sets the objective evaluation (evaluation.json) beside the human verdicts."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import report_main
from tests import ROOT
from tests.analysis.helpers import answer, write_csv


# pair -> (gradcam area, hirescam area, gradcam entropy, hirescam entropy, gradcam distance, hirescam distance)
MAPS = {"p0": (0.30, 0.10, 9.0, 8.0, 0.3, 0.0), "p1": (0.25, 0.05, 9.5, 8.5, 0.2, 0.0),
        "p2": (0.05, 0.20, 7.0, 9.0, 0.1, 0.0), "p3": (0.10, 0.10, 8.0, 8.0, 0.4, 0.0)}
# pair -> majority answers: larger, focused
HUMAN = {"p0": ("gradcam", "hirescam"), "p1": ("gradcam", "gradcam"), "p2": ("gradcam", "hirescam"),
         "p3": ("hirescam", "hirescam")}


def manifest(study_id="t") -> dict:
    def side(method):
        return {"method": method, "file": f"stimuli/{method}.png", "sha256": "x", "url": None,
                "metrics": {"area_above_half": 0.1, "entropy": 8.0, "centroid": [0.5, 0.5], "spread": 0.1}}
    pairs = [{"pair_id": p, "image_id": f"img_{p}", "class_index": 0, "class_name": "circle",
              "logit": 1.0, "probability": 0.7, "is_attention_check": False, "expected": None,
              "original": None, "sides": {"A": side("gradcam"), "B": side("hirescam")}} for p in MAPS]
    return {"format_version": 1, "kind": "camstudy-manifest", "study_id": study_id, "pairs": pairs}


def evaluation(study_id="t") -> dict:
    rows = []
    for p, (ga, ha, ge, he, gd, hd) in MAPS.items():
        for method, area, ent, dist in (("gradcam", ga, ge, gd), ("hirescam", ha, he, hd)):
            rows.append({"pair_id": p, "image_id": f"img_{p}", "class_index": 0, "class_name": "circle",
                         "method": method, "area_above_half": area, "entropy": ent,
                         "faithfulness_distance": dist, "iou_0.5": None, "blobs": 1, "roundness": 0.9})
    per_method = {m: {"mean_distance": 0.25 if m == "gradcam" else 0.0} for m in ("gradcam", "hirescam")}
    return {"format_version": 1, "kind": "camstudy-evaluation", "study_id": study_id,
            "faithfulness": {"defined": True, "reason": None, "per_method": per_method},
            "localization": {"defined": False, "reason": "the image source has no object masks"},
            "shape": {"per_method": {"gradcam": {"mean_area_above_half": 0.175},
                                     "hirescam": {"mean_area_above_half": 0.1125}}},
            "rows": rows}


def responses(tmp: Path) -> str:
    rows = []
    for participant in ("u1", "u2", "u3"):
        for i, (p, (larger, focused)) in enumerate(HUMAN.items()):
            side = "A" if i % 2 == 0 else "B"
            rows.append(answer(participant, p, "larger", larger, gradcam_side=side))
            rows.append(answer(participant, p, "focused", focused, gradcam_side=side))
    return write_csv(rows, tmp / "responses.csv")


def run_report(tmp: Path, with_evaluation=True, evaluation_doc=None) -> Path:
    (tmp / "manifest.json").write_text(json.dumps(manifest()))
    if with_evaluation:
        (tmp / "evaluation.json").write_text(json.dumps(evaluation_doc or evaluation()))
    out = tmp / "report"
    assert report_main(["--responses", responses(tmp), "--manifest", str(tmp / "manifest.json"),
                        "--out", str(out), "--no-mixed", "--no-figures"]) == 0
    return out


def agreement(results: dict, question: str, criterion: str) -> dict:
    rows = results["evaluation"]["agreement"]
    return next(a for a in rows if a["question"] == question and a["criterion"] == criterion)


def test_majority_verdicts_are_counted_against_each_objective_pick(tmp_path):
    results = json.loads((run_report(tmp_path) / "results.json").read_text())
    # larger vs area: p0 g=g, p1 g=g, p2 g vs h (disagree), p3 equal areas (set aside) -> 2 of 3
    larger = agreement(results, "larger", "area")
    assert (larger["agreed"], larger["disagreed"], larger["natural"]) == (2, 1, True)
    # focused vs lower entropy: p0 h=h, p1 g vs h, p2 h vs g, p3 equal -> 1 of 3
    focused = agreement(results, "focused", "entropy")
    assert (focused["agreed"], focused["disagreed"]) == (1, 2)
    # focused vs faithfulness: HiResCAM is closer on every pair; majorities h, g, h, h -> 3 of 4
    faithful = agreement(results, "focused", "faithfulness")
    assert (faithful["agreed"], faithful["disagreed"], faithful["natural"]) == (3, 1, False)
    assert agreement(results, "larger", "iou")["share"] is None  # no masks: nothing to compare
    assert larger["share"] == pytest.approx(2 / 3) and "pvalue" not in json.dumps(larger)


def test_report_shows_the_section_and_writes_the_pair_table(tmp_path):
    out = run_report(tmp_path)
    page = (out / "report.html").read_text()
    assert "Objective evaluation beside the human verdicts" in page
    assert "the image source has no object masks" in page
    table = pd.read_csv(out / "evaluation_pairs.csv")
    assert list(table["pair_id"]) == list(MAPS)
    assert table.set_index("pair_id").loc["p2", "human_larger"] == "gradcam"
    assert table.set_index("pair_id").loc["p2", "objective_area"] == "hirescam"


def test_without_evaluation_json_the_section_is_absent(tmp_path):
    out = run_report(tmp_path, with_evaluation=False)
    assert "Objective evaluation beside" not in (out / "report.html").read_text()
    assert json.loads((out / "results.json").read_text())["evaluation"] is None
    assert not (out / "evaluation_pairs.csv").exists()


@pytest.mark.parametrize("doc, reason", [
    ({"kind": "something-else"}, "kind 'camstudy-evaluation'"),
    ({**evaluation(), "format_version": 9}, "format_version"),
    (evaluation(study_id="other"), "does not match"),
])
def test_a_bad_evaluation_is_skipped_with_the_reason_and_the_report_still_appears(tmp_path, doc, reason):
    out = run_report(tmp_path, evaluation_doc=doc)
    section = json.loads((out / "results.json").read_text())["evaluation"]
    assert section["type"] == "Skipped" and reason in section["reason"]
    assert reason.split("'")[0] in (out / "report.html").read_text()


def test_the_evaluation_section_needs_neither_torch_nor_flask(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(manifest()))
    (tmp_path / "evaluation.json").write_text(json.dumps(evaluation()))
    code = ("import sys; from analysis.cli import report_main; report_main(['--responses', sys.argv[1], '--manifest', "
            "sys.argv[2], '--out', sys.argv[3], '--no-mixed', '--no-figures']); "
            "bad = [m for m in ('flask', 'torch') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    result = subprocess.run([sys.executable, "-c", code, responses(tmp_path), str(tmp_path / "manifest.json"),
                             str(tmp_path / "r")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr

"""The report end to end: command line, files written, and a real browser."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from analysis import synthetic
from analysis.cli import report_main, simulate_main
from analysis.stats import power
from tests import ROOT


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    """A simulated study: manifest, export with careless and unfinished participants, config."""
    d = tmp_path_factory.mktemp("study")
    assert simulate_main(["--out", str(d / "responses.csv"), "--write-manifest",
                          str(d / "manifest.json"), "--participants", "24", "--pairs", "20",
                          "--careless-rate", "0.15", "--dropout-rate", "0.1",
                          "--area-slope", "0.8", "--seed", "3"]) == 0
    (d / "study.toml").write_text("[analysis]\nmin_median_rt_ms = 800\n"
                                  "max_failed_attention_checks = 1\n")
    return d


@pytest.fixture(scope="module")
def report_dir(study_dir):
    out = study_dir / "report"
    assert report_main(["--responses", str(study_dir / "responses.csv"), "--manifest",
                        str(study_dir / "manifest.json"), "--config",
                        str(study_dir / "study.toml"), "--out", str(out)]) == 0
    return out


def test_report_writes_html_json_and_tables(report_dir):
    names = {p.name for p in report_dir.iterdir()}
    assert {"report.html", "results.json", "flow.csv", "questions.csv", "holm.csv",
            "classes.csv", "participants.csv", "pair_votes.csv"} <= names


def test_html_is_self_contained_and_opens_with_the_headline(report_dir):
    html = (report_dir / "report.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert html.count("data:image/png;base64,") >= 4
    headline = html.index('id="headline"')
    assert html.index("Grad-CAM chosen with probability") > headline
    assert headline < html.index('id="flow"')
    # The first figure is the clustered estimates, right after the decision.
    first_figure = html.index("data:image/png;base64,")
    assert html.index("Clustered estimates") < first_figure + 2000
    assert html.index('id="flow"') > first_figure


def test_nothing_written_contains_a_participant_id(study_dir, report_dir):
    export = (study_dir / "responses.csv").read_text().splitlines()[2:]
    worker_ids = {line.split(",")[1] for line in export}
    for path in report_dir.iterdir():
        text = path.read_text(errors="ignore")
        assert not [w for w in worker_ids if w in text], path.name


def test_results_json_holds_the_numbers_and_which_model_ran(report_dir):
    doc = json.loads((report_dir / "results.json").read_text())
    assert doc["kind"] == "camstudy-results" and doc["format_version"] == 2
    larger = next(q for q in doc["questions"] if q["question"] == "larger")
    assert larger["model"]["model"] in ("mixed", "gee")
    assert 0 < larger["model"]["probability"] < 1 and larger["model"]["estimand"]
    assert [d["question"] for d in doc["decisions"]] == ["larger", "focused"]
    assert "BinomialResult" not in json.dumps(doc)  # no judgment-level test anywhere
    assert doc["flow"]["steps"][-1]["label"] == "Analysed"


def test_flow_table_shows_exclusions(report_dir):
    flow = (report_dir / "flow.csv").read_text()
    assert "Excluded: did not finish" in flow and "Excluded: median response time" in flow


def test_script_runs_as_documented_and_bad_input_exits_with_the_reason(study_dir, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("participant_id\n")
    result = subprocess.run([sys.executable, str(ROOT / "analysis" / "report.py"),
                             "--responses", str(bad), "--out", str(tmp_path / "r")],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert "report: error:" in result.stderr and "format_version" in result.stderr


def test_camstudy_dispatches_report_simulate_and_power(study_dir, tmp_path, capsys):
    from camstudy.cli import main

    assert main(["simulate", "--out", str(tmp_path / "r.csv"), "--participants", "5"]) == 0
    assert main(["report", "--responses", str(tmp_path / "r.csv"), "--out",
                 str(tmp_path / "rep"), "--no-mixed", "--no-figures"]) == 0
    config = tmp_path / "study.toml"
    config.write_text("[analysis]\nmixed_model = false\n")
    assert main(["power", "--p", "larger=0.7", "--participants", "12", "--pairs", "10",
                 "--pairs-per-participant", "6", "--simulations", "20", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "Power for 'larger'" in out and "Holm across 1 question(s)" in out


def test_power_agrees_with_a_direct_simulation_of_the_report(tmp_path):
    # The same simulated studies written as exports, read back and analysed by analyse(),
    # the function behind camstudy report: its Holm decisions are what power counts.
    from analysis.inputs.load import read_responses
    from analysis.reporting.analyse import analyse
    from analysis.settings import AnalysisConfig

    design = power.PowerDesign(p={"larger": 0.7, "focused": 0.4}, pairs=12, pairs_per_participant=8,
                          exclusion_rate=0.2)
    config = AnalysisConfig()
    result = power.estimate_power(design, 14, config, simulations=12, seed=3)
    direct = {"larger": 0, "focused": 0}
    for i in range(12):
        frame = synthetic.simulate_responses(synthetic.SimulationSpec(
            participants=14, pairs=12, pairs_per_participant=8, p=dict(design.p),
            participant_sd=1.0, pair_sd=0.5, tie_rate=0.1, dropout_rate=0.2, allocation="webapp",
            attention_checks=2, seed=3 * 1_000_003 + i))
        study, _ = analyse(read_responses(synthetic.write_export(frame, tmp_path / f"{i}.csv")),
                           None, config, sensitivity=False)
        for d in study.decisions:
            direct[d.question] += d.reject
    assert result.power == {q: n / 12 for q, n in direct.items()}
    assert 0 < result.power["larger"]  # the comparison is not vacuous


@pytest.mark.slow
def test_power_search_finds_the_target_and_power_grows_with_participants():
    from analysis.settings import AnalysisConfig

    design = power.PowerDesign(p={"larger": 0.75}, pairs=10, pairs_per_participant=10,
                               exclusion_rate=0.1)
    config = AnalysisConfig(mixed_model=False, primary_questions=("larger",))
    found = power.participants_needed(design, config, 0.8, simulations=40, start=4)
    assert found.participants is not None
    by_n = {r.participants: r.power["larger"] for r in found.curve}
    assert by_n[found.participants] >= 0.8
    assert by_n[min(by_n)] < by_n[max(by_n)]


def test_analysis_never_imports_flask_or_torch(study_dir, tmp_path):
    code = ("import sys; from analysis.cli import report_main; report_main(['--responses', sys.argv[1], "
            "'--out', sys.argv[2], '--no-mixed']); "
            "bad = [m for m in ('flask', 'torch') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    result = subprocess.run([sys.executable, "-c", code, str(study_dir / "responses.csv"),
                             str(tmp_path / "r")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.browser
def test_report_renders_in_chromium_without_console_errors(browser, report_dir, artifact_dir):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.goto((report_dir / "report.html").as_uri())
    assert page.locator("h2").first.inner_text() == "Pre-registered decision"
    assert "Grad-CAM chosen with probability" in page.locator("#headline").inner_text()
    images = page.locator("img")
    assert images.count() >= 4
    assert all(images.nth(i).evaluate("i => i.complete && i.naturalWidth > 0")
               for i in range(images.count()))
    page.screenshot(path=str(artifact_dir / "analysis-report.png"), full_page=True)
    page.close()
    assert problems == []
    shutil.copy(report_dir / "report.html", artifact_dir / "analysis-report.html")


def test_example_stimuli_are_drawn_when_the_images_are_next_to_the_manifest(study_dir, tmp_path):
    import numpy as np
    from matplotlib.image import imsave

    from analysis.inputs.load import read_manifest, read_responses
    from analysis.reporting.analyse import analyse
    from analysis.reporting.figures import draw_figures
    from analysis.settings import AnalysisConfig

    shutil.copy(study_dir / "manifest.json", tmp_path / "manifest.json")
    manifest = read_manifest(tmp_path / "manifest.json")
    (tmp_path / "stimuli").mkdir()
    for file in manifest.pairs[["gradcam_file", "hirescam_file"]].to_numpy().ravel():
        imsave(tmp_path / file, np.random.default_rng(0).random((16, 16)))
    study, frame = analyse(read_responses(study_dir / "responses.csv"), manifest,
                           AnalysisConfig(mixed_model=False))
    pngs, reasons = draw_figures(study, frame, manifest)
    assert "examples" in pngs, reasons
    assert pngs["examples"].startswith(b"\x89PNG")


def test_no_figure_has_overlapping_labels(study_dir, tmp_path):
    # Every figure the report draws, with long class names and many classes, built as a
    # matplotlib Figure and drawn: no two text boxes (tick labels, titles, captions) overlap.
    import numpy as np
    from matplotlib.image import imsave

    from analysis.inputs.load import read_manifest, read_responses
    from analysis.reporting import figures, plots
    from analysis.reporting.analyse import analyse
    from analysis.settings import AnalysisConfig

    shutil.copy(study_dir / "manifest.json", tmp_path / "manifest.json")
    manifest = read_manifest(tmp_path / "manifest.json")
    (tmp_path / "stimuli").mkdir()
    for file in manifest.pairs[["gradcam_file", "hirescam_file"]].to_numpy().ravel():
        imsave(tmp_path / file, np.random.default_rng(0).random((16, 16)))
    responses = read_responses(study_dir / "responses.csv")
    long_names = {c: f"{c} (a much longer class name, as ImageNet has)" for c in synthetic.CLASSES}
    responses.frame["class_name"] = responses.frame["class_name"].map(long_names)
    manifest.pairs["class_name"] = manifest.pairs["class_name"].map(long_names)
    study, frame = analyse(responses, manifest, AnalysisConfig(mixed_model=False), sensitivity=False)
    built = {}
    names = ("estimates_figure", "participants_figure", "forest_figure", "area_figure",
             "examples_figure")
    originals = {name: getattr(plots, name) for name in names}
    for name in originals:  # capture the Figure objects the report builds
        builder = getattr(plots, "build_" + name[:-len("_figure")])
        setattr(plots, name, lambda *a, _b=builder, _n=name: built.setdefault(_n, _b(*a)) and b"")
    try:
        figures.draw_figures(study, frame, manifest)
    finally:
        for name, func in originals.items():
            setattr(plots, name, func)
    assert set(built) == {"estimates_figure", "participants_figure", "forest_figure",
                          "area_figure", "examples_figure"}
    for name, fig in built.items():
        assert plots.overlapping_labels(fig) == [], name
        assert len(plots.text_boxes(fig)) >= 3, name  # the check saw the labels


def test_old_overlapping_layout_is_caught():
    # The attack: the forest plot's old side-by-side layout without a layout engine,
    # with long class names, overlaps; the check must see it.
    from matplotlib.figure import Figure

    from analysis.reporting import plots

    fig = Figure(figsize=(8.4, 2))
    for ax in fig.subplots(1, 2):
        ax.set_yticks([0, 1], ["a very long class name that runs on (n=400)", "short"])
    assert plots.overlapping_labels(fig) != []
    assert plots.overlapping_labels(plots.build_estimates([("larger", 0.6, 0.5, 0.7)])) == []


def test_counts_are_written_as_whole_numbers(report_dir):
    html = (report_dir / "report.html").read_text()
    import re
    assert not re.search(r"\b\d+\.0 of \d", html)
    assert not re.search(r"\bof \d+\.0\b", html)


def test_report_shows_sensitivity_analyses_without_p_values(report_dir):
    html = (report_dir / "report.html").read_text()
    doc = json.loads((report_dir / "results.json").read_text())
    rules = [row["rule"] for row in doc["exclusion_sensitivity"]]
    assert rules == ["pre-registered rules", "no attention-check exclusion",
                     "no failed attention-check trial allowed", "completion not required",
                     "median response time at least 1,000 ms"]
    first = doc["exclusion_sensitivity"][0]["estimates"][0][1]
    larger = next(q for q in doc["questions"] if q["question"] == "larger")
    assert first["probability"] == pytest.approx(larger["model"]["probability"])
    labels = [s["label"] for s in larger["sensitivity"]]
    assert labels == ["random side slope per participant", "ties split as half a choice",
                      "population-averaged (two-way clustered GEE)", "ties as an outcome (ordinal)"]
    section = html[html.index('id="exclusion-sensitivity"'):html.index('id="holm"')]
    assert "Sensitivity to the exclusion rules" in section and "p =" not in section
    assert "Methods paragraph (ready to paste)" in html
    assert (report_dir / "methods.txt").read_text().startswith("We analysed ")

"""The whole report from paths: read the inputs, analyse, and write report.html,
results.json and the CSV tables to a folder (what `camstudy report` does after parsing
its options; analysis.cli.report_main)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from analysis.inputs.load import (SimulatedShare, read_manifest, read_responses, simulated_share,
                                  without_simulated)
from analysis.reporting.sentences import simulated_sentence, summary_lines
from analysis.settings import load_config


def load_inputs(responses: str | Path | None = None, db: str | None = None,
                db_view: str | None = None, manifest: str | Path | None = None,
                config: str | Path | None = None, no_mixed: bool = False,
                exclude_simulated: bool = False):
    """(config, responses, manifest, simulated share): the answers from an export file or a
    database URL (read-only), simulated participants announced or left out."""
    settings = load_config(config)
    if no_mixed:
        settings = settings.model_copy(update={"mixed_model": False})
    if db:
        from analysis.inputs.database import DEFAULT_VIEW, read_database
        answers = read_database(db, db_view or DEFAULT_VIEW)
    else:
        answers = read_responses(responses)
    simulated = simulated_share(answers, excluded=exclude_simulated)
    if simulated.simulated:
        if exclude_simulated:
            answers = without_simulated(answers)
        answers.notes.append(simulated_sentence(simulated))
    study = read_manifest(manifest) if manifest else None
    return settings, answers, study, simulated


def write_report(out: str | Path, responses: str | Path | None = None, *, db: str | None = None,
                 db_view: str | None = None, manifest: str | Path | None = None,
                 config: str | Path | None = None, preregistration: str | Path | None = None,
                 no_mixed: bool = False, no_figures: bool = False,
                 exclude_simulated: bool = False) -> list[str]:
    """Write everything to `out`; returns the terminal summary lines.

    `responses` (responses.csv or .json) or `db` (a database URL, with the export-shaped
    view `db_view`) gives the answers; `config` is a study.toml with an [analysis]
    section, `preregistration` a preregistration.json to check it against. Raises
    AnalysisError for input a researcher can fix.
    """
    # Headless: the report is written to files, never shown in a window.
    import matplotlib
    matplotlib.use("Agg")

    from analysis.reporting.analyse import analyse
    from analysis.reporting.figures import draw_figures
    from analysis.reporting.html import render_html
    from analysis.reporting.tables import write_results_json, write_tables

    settings, answers, study_manifest, simulated = load_inputs(
        responses, db, db_view, manifest, config, no_mixed, exclude_simulated)
    study, frame = analyse(answers, study_manifest, settings)
    if preregistration:
        from analysis.inputs import preregistration as registered
        study = replace(study, preregistration=registered.check(
            preregistration, settings, answers.frame))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pngs, reasons = ({}, {}) if no_figures else draw_figures(study, frame, study_manifest)
    (out / "report.html").write_text(render_html(study, pngs, reasons, simulated), encoding="utf-8")
    write_results_json(study, out / "results.json")
    write_tables(study, frame, out)
    return terminal_lines(study, simulated)


def terminal_lines(study, simulated: SimulatedShare) -> list[str]:
    """What `camstudy report` prints: the simulated-data line, the summary, warnings, notes."""
    first = simulated_sentence(simulated) if simulated.simulated else None
    lines = [first] if first else []
    lines += summary_lines(study)
    pr = study.preregistration
    if pr is not None and not pr.matches:
        lines.append("WARNING: the analysis config differs from the pre-registration: "
                     + "; ".join(pr.differences))
    if pr is not None and pr.before_data is False:
        lines.append("WARNING: the pre-registration was written after the first answer")
    lines += [f"Note: {n}" for n in study.notes if n != first]
    return lines

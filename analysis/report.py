"""`python analysis/report.py --responses responses.csv --out report/` (or `camstudy report`).

Reads the export (or a database view with --db), applies the pre-registered
exclusions from study.toml's [analysis], runs the tests and writes
report.html (self-contained), results.json and CSV tables to --out, then prints
a short summary. Simulated participants (`camstudy simulate`, ids starting with
"sim-") are announced at the top of the report; --exclude-simulated leaves them out.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make `import analysis` find this repository's package rather
    # than treating analysis/ itself as the top level.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))

import argparse  # noqa: E402
import time  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="camstudy report", description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--responses", help="responses.csv or responses.json (docs/formats.md)")
    src.add_argument("--db", metavar="URL", help="read answers from a database (read-only)")
    src.add_argument("--preregister", action="store_true",
                     help="write preregistration.json (the [analysis] config, its hash, camstudy's "
                          "version) to --out, before data collection; no answers are read")
    ap.add_argument("--db-view", default=None,
                    help="table or view shaped like the export (default responses_export)")
    ap.add_argument("--manifest", help="the study's manifest.json (objective metrics, examples)")
    ap.add_argument("--config", help="study.toml with an [analysis] section")
    ap.add_argument("--preregistration", metavar="FILE",
                    help="preregistration.json to check the analysis config against")
    ap.add_argument("--out", required=True, help="directory to write the report into")
    ap.add_argument("--no-mixed", action="store_true",
                    help="skip the mixed model and fit the GEE (large exports)")
    ap.add_argument("--no-figures", action="store_true", help="write tables and JSON only")
    ap.add_argument("--exclude-simulated", action="store_true",
                    help="leave out simulated participants (camstudy simulate; ids starting with 'sim-')")
    return ap


def load_inputs(args):
    from analysis.config import load_config
    from analysis.load import read_manifest, read_responses, simulated_share, without_simulated

    config = load_config(args.config)
    if args.no_mixed:
        config = config.model_copy(update={"mixed_model": False})
    if args.db:
        from analysis.db import DEFAULT_VIEW, read_database
        responses = read_database(args.db, args.db_view or DEFAULT_VIEW)
    else:
        responses = read_responses(args.responses)
    simulated = simulated_share(responses, excluded=args.exclude_simulated)
    if simulated.simulated:
        if args.exclude_simulated:
            responses = without_simulated(responses)
        responses.notes.append(simulated_sentence(simulated))
    manifest = read_manifest(args.manifest) if args.manifest else None
    return config, responses, manifest, simulated


def simulated_sentence(share) -> str:
    """One line for the terminal and the report's notes (results.json keeps it too)."""
    if share.excluded:
        return (f"{share.simulated} simulated participant(s) (ids starting with 'sim-', from camstudy "
                f"simulate) were left out (--exclude-simulated); {share.participants - share.simulated} "
                "participant(s) remain")
    return (f"SIMULATED DATA: {share.simulated} of {share.participants} participants are simulated "
            "(ids starting with 'sim-', from camstudy simulate), not people, and are included in "
            "these results; --exclude-simulated leaves them out")


def run(args) -> list[str]:
    """Write everything to args.out; returns the terminal summary lines."""
    # Headless: the report is written to files, never shown in a window.
    import matplotlib
    matplotlib.use("Agg")

    from analysis.analyse import analyse
    from analysis.render import draw_figures, render_html
    from analysis.sentences import summary_lines
    from analysis.tables import write_results_json, write_tables

    config, responses, manifest, simulated = load_inputs(args)
    study, frame = analyse(responses, manifest, config)
    if args.preregistration:
        from dataclasses import replace

        from analysis import preregistration
        study = replace(study, preregistration=preregistration.check(
            args.preregistration, config, responses.frame))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pngs, reasons = ({}, {}) if args.no_figures else draw_figures(study, frame, manifest)
    (out / "report.html").write_text(render_html(study, pngs, reasons, simulated), encoding="utf-8")
    write_results_json(study, out / "results.json")
    write_tables(study, frame, out)
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


def preregister(args) -> int:
    from analysis import preregistration
    from analysis.config import load_config
    from analysis.errors import AnalysisError

    try:
        config = load_config(args.config)
    except AnalysisError as exc:
        print(f"report: error: {exc}", file=sys.stderr)
        return 2
    path = preregistration.write(config, Path(args.out))
    print(f"Pre-registration written to {path} (sha256 {preregistration.config_hash(config)[:16]}…); "
          "keep it with a timestamp you cannot change (e.g. attach it to your registry entry), "
          "then pass it to the report with --preregistration")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from analysis.errors import AnalysisError

    started = time.perf_counter()
    if args.preregister:
        return preregister(args)
    try:
        lines = run(args)
    except AnalysisError as exc:
        print(f"report: error: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    print(f"Report written to {Path(args.out) / 'report.html'} "
          f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""analysis' subcommands: `camstudy report`, `camstudy power` and `camstudy simulate`
(without --url: a synthetic responses export). Each is ``<name>_main(argv) -> int``.

Options are parsed here; the work is done by the public functions (analysis.__all__:
`write_report`, `participants_needed` / `estimate_power`, `write_synthetic_export`).
pandas, scipy and statsmodels load only when a subcommand runs, not to show --help.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# argparse descriptions (the first line of each subcommand's --help)
REPORT = "`python analysis/report.py --responses responses.csv --out report/` (or `camstudy report`)."
POWER = "Power and sample size by simulating the pre-registered decision."
SIMULATE = "Synthetic responses exports: for demos, power planning and the tests."


def parse_probabilities(items: list[str], prog: str) -> dict:
    """``QUESTION=P`` command-line values to {question: P}, refusing what is not a
    probability strictly between 0 and 1 (shared by `camstudy simulate` and `camstudy power`)."""
    p = {}
    for item in items:
        question, _, number = item.partition("=")
        try:
            value = float(number)
        except ValueError:
            raise SystemExit(f"{prog}: --p {item!r}: expected QUESTION=PROBABILITY, e.g. larger=0.7")
        if not 0 < value < 1:
            raise SystemExit(f"{prog}: --p {item!r}: the probability must be between 0 and 1")
        p[question] = value
    return p


# ---------------------------------------------------------------- camstudy report

def report_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="camstudy report", description=REPORT)
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


def preregister(args) -> int:
    from analysis.errors import AnalysisError
    from analysis.inputs import preregistration
    from analysis.settings import load_config

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


def report_main(argv: list[str] | None = None) -> int:
    """Reads the export (or a database view with --db), applies the pre-registered
    exclusions from study.toml's [analysis], runs the tests and writes report.html
    (self-contained), results.json and CSV tables to --out, then prints a short summary.
    Simulated participants (`camstudy simulate`, ids starting with "sim-") are announced
    at the top of the report; --exclude-simulated leaves them out."""
    args = report_parser().parse_args(argv)
    from analysis.errors import AnalysisError

    started = time.perf_counter()
    if args.preregister:
        return preregister(args)
    from analysis.reporting.write import write_report

    try:
        lines = write_report(args.out, args.responses, db=args.db, db_view=args.db_view,
                             manifest=args.manifest, config=args.config,
                             preregistration=args.preregistration, no_mixed=args.no_mixed,
                             no_figures=args.no_figures, exclude_simulated=args.exclude_simulated)
    except AnalysisError as exc:
        print(f"report: error: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    print(f"Report written to {Path(args.out) / 'report.html'} "
          f"({time.perf_counter() - started:.1f} s)")
    return 0


# ---------------------------------------------------------------- camstudy power

def power_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="camstudy power", description=POWER)
    ap.add_argument("--p", action="append", metavar="QUESTION=P",
                    help="chance a typical participant picks Grad-CAM, per primary question "
                         "(default larger=0.7 and focused=0.3)")
    ap.add_argument("--power", type=float, default=0.8, help="target power (default 0.8)")
    ap.add_argument("--participants", type=int,
                    help="report the power for this many recruited participants instead of searching")
    ap.add_argument("--pairs", type=int, default=40, help="pairs in the study (default 40)")
    ap.add_argument("--pairs-per-participant", type=int, default=20)
    ap.add_argument("--participant-sd", type=float, default=1.0,
                    help="SD of participants' log-odds (default 1.0)")
    ap.add_argument("--pair-sd", type=float, default=0.5)
    ap.add_argument("--tie-rate", type=float, default=0.1)
    ap.add_argument("--exclusion-rate", type=float, default=0.1,
                    help="share of recruited participants excluded (default 0.1)")
    ap.add_argument("--config", help="study.toml whose [analysis] section decides (alpha, "
                                     "primary questions, ties, mixed_model)")
    ap.add_argument("--simulations", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    return ap


def _progress_bar(total_hint: int | None):
    """A tqdm bar on terminals only (no output in logs or pipes)."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm
    bar = tqdm(total=total_hint, unit="study", file=sys.stderr, leave=False)
    return bar.update, bar.close


def power_main(argv: list[str] | None = None) -> int:
    """`camstudy power --p larger=0.7 --p focused=0.3 --power 0.8` prints the participants
    needed (analysis.stats.power)."""
    from analysis.errors import AnalysisError
    from analysis.settings import load_config

    args = power_parser().parse_args(argv)
    if not 0 < args.power < 1 or args.pairs_per_participant < 1 or not 0 <= args.exclusion_rate < 1:
        print("power: error: --power must be between 0 and 1, --exclusion-rate in [0, 1), "
              "--pairs-per-participant at least 1", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except AnalysisError as exc:
        print(f"power: error: {exc}", file=sys.stderr)
        return 2
    from analysis.stats.power import PowerDesign, estimate_power, participants_needed

    design = PowerDesign(p=parse_probabilities(args.p or ["larger=0.7", "focused=0.3"], "power"),
                         pairs=args.pairs,
                         pairs_per_participant=min(args.pairs_per_participant, args.pairs),
                         participant_sd=args.participant_sd, pair_sd=args.pair_sd,
                         tie_rate=args.tie_rate, exclusion_rate=args.exclusion_rate)
    model = "mixed model" if config.mixed_model else "two-way clustered GEE"
    setting = (f"{', '.join(f'{q} p = {v:g}' for q, v in design.p.items())}; {design.pairs} pairs, "
               f"{design.pairs_per_participant} per participant (webapp allocation, sides "
               f"counterbalanced); participant SD {design.participant_sd:g}, pair SD "
               f"{design.pair_sd:g} (logit); {design.tie_rate:.0%} ties; {design.exclusion_rate:.0%} "
               f"excluded; decision: {model}, Holm across {len(design.p)} question(s) at alpha "
               f"{config.alpha:g}; {args.simulations} simulated studies per size")
    update, close = _progress_bar(args.simulations if args.participants else None)
    try:
        if args.participants:
            r = estimate_power(design, args.participants, config, args.simulations, args.seed, update)
            close()
            for q, value in r.power.items():
                i = r.interval[q]
                print(f"Power for '{q}': {value:.0%} (95% CI {i.low:.0%}-{i.high:.0%}) with "
                      f"{r.participants} participants recruited.")
            print(f"All primary questions decided: {r.all_power:.0%}. {setting}.")
            return 0
        result = participants_needed(design, config, args.power, args.simulations, args.seed,
                                     progress=update)
    finally:
        close()
    for r in result.curve:
        powers = ", ".join(f"{q} {v:.0%}" for q, v in r.power.items())
        print(f"  {r.participants:5d} participants recruited: power {powers}")
    if result.participants is None:
        print(f"Power {args.power:.0%} was not reached with up to 1,000 participants; {setting}.")
        return 1
    print(f"{result.participants} participants recruited give at least {args.power:.0%} power for "
          f"every primary question; {setting}.")
    return 0


# ---------------------------------------------------------------- camstudy simulate (no --url)

def simulate_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="camstudy simulate", description=SIMULATE)
    ap.add_argument("--out", required=True, help="responses.csv to write")
    ap.add_argument("--manifest", help="simulate answers for this study's pairs")
    ap.add_argument("--write-manifest", help="also write the made-up study's manifest.json here")
    ap.add_argument("--participants", type=int, default=30)
    ap.add_argument("--pairs", type=int, default=40, help="pairs in a made-up study")
    ap.add_argument("--pairs-per-participant", type=int)
    ap.add_argument("--p", action="append", metavar="QUESTION=P",
                    help="chance of choosing Grad-CAM for a typical participant "
                         "(default larger=0.7, focused=0.3)")
    ap.add_argument("--participant-sd", type=float, default=1.0,
                    help="SD of the participant random intercept (logit scale)")
    ap.add_argument("--pair-sd", type=float, default=0.5)
    ap.add_argument("--tie-rate", type=float, default=0.1)
    ap.add_argument("--side-bias", type=float, default=0.0, help="log-odds added to choosing Image A")
    ap.add_argument("--side-sd", type=float, default=0.0,
                    help="SD across participants of the preference for Image A (logit scale)")
    ap.add_argument("--allocation", choices=("random", "webapp"), default="random",
                    help="webapp: least-shown pairs first, sides counterbalanced per pair")
    ap.add_argument("--area-slope", type=float, default=0.0)
    ap.add_argument("--careless-rate", type=float, default=0.0)
    ap.add_argument("--dropout-rate", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    return ap


def simulate_main(argv: list[str] | None = None) -> int:
    """`camstudy simulate --out responses.csv [--manifest manifest.json] ...` writes a
    synthetic export in the documented format (analysis.synthetic)."""
    args = simulate_parser().parse_args(argv)
    from analysis.errors import AnalysisError
    from analysis.synthetic import SimulationSpec, write_synthetic_export

    spec = SimulationSpec(
        participants=args.participants, pairs=args.pairs,
        pairs_per_participant=args.pairs_per_participant,
        p={"larger": 0.7, "focused": 0.3, **parse_probabilities(args.p or [], "simulate")},
        participant_sd=args.participant_sd, pair_sd=args.pair_sd, tie_rate=args.tie_rate,
        side_bias=args.side_bias, side_sd=args.side_sd, allocation=args.allocation,
        area_slope=args.area_slope,
        careless_rate=args.careless_rate, dropout_rate=args.dropout_rate, seed=args.seed)
    try:
        frame = write_synthetic_export(args.out, spec, args.manifest, args.write_manifest)
    except AnalysisError as exc:
        print(f"simulate: error: {exc}", file=sys.stderr)
        return 2
    print(f"simulate: wrote {len(frame):,} answers from {spec.participants} participants to "
          f"{Path(args.out)}")
    return 0

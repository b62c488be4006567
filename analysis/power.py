"""Power and sample size by simulating the pre-registered decision.

Each simulated study is drawn with `analysis.simulate` as the webapp would run it:
`--pairs` pairs in the study, each participant shown `--pairs-per-participant` of them,
least-shown pairs first and each pair's sides counterbalanced (webapp/assignment.py),
two attention-check trials, ties at `--tie-rate`, participant and pair random effects.
A share `--exclusion-rate` of the recruited participants does not finish and is removed
by the pre-registered exclusions. Then exactly what decides in `camstudy report` runs:
the exclusions, the pre-registered model per primary question (the mixed model, or the
GEE with `mixed_model = false`) and Holm across the primary questions. Power is the share
of simulated studies in which the decision rejects for a question.

`camstudy power --p larger=0.7 --p focused=0.3 --power 0.8` prints the participants needed.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from statsmodels.stats.multitest import multipletests

from analysis.config import AnalysisConfig
from analysis.proportion import binomial


@dataclass(frozen=True)
class Design:
    """What the simulation needs to know about the planned study."""

    p: dict                      # question -> chance a typical participant picks Grad-CAM
    pairs: int = 40
    pairs_per_participant: int = 20
    participant_sd: float = 1.0
    pair_sd: float = 0.5
    tie_rate: float = 0.1
    exclusion_rate: float = 0.1
    attention_checks: int = 2


@dataclass(frozen=True)
class PowerResult:
    participants: int            # recruited (before exclusions)
    power: dict                  # question -> share of studies whose decision rejects
    interval: dict               # question -> Wilson interval of that share
    all_power: float             # share of studies rejecting for every primary question
    simulations: int


@dataclass(frozen=True)
class SampleSizeResult:
    target_power: float
    participants: int | None     # None: not reached within max_participants
    curve: tuple[PowerResult, ...]


def simulate_study(design: Design, participants: int, seed: int):
    """One simulated export as the analysis reads it."""
    from analysis.load import prepare
    from analysis.simulate import SimulationSpec, simulate_responses

    spec = SimulationSpec(participants=participants, pairs=design.pairs,
                          pairs_per_participant=design.pairs_per_participant, p=dict(design.p),
                          participant_sd=design.participant_sd, pair_sd=design.pair_sd,
                          tie_rate=design.tie_rate, dropout_rate=design.exclusion_rate,
                          allocation="webapp", attention_checks=design.attention_checks, seed=seed)
    return prepare(simulate_responses(spec), "simulated").frame


def decide(frame, config: AnalysisConfig) -> dict[str, bool]:
    """The report's decision on one export: exclusions, the model, Holm. Question -> reject."""
    from analysis import models
    from analysis.errors import NotComputable
    from analysis.exclusions import apply_exclusions

    kept, _ = apply_exclusions(frame, config)
    found = {}
    for q in config.primary_questions:
        try:
            found[q] = models.fit_model(kept, q, config.confidence, use_mixed=config.mixed_model,
                                        ties=config.ties).pvalue
        except NotComputable:
            found[q] = None  # not computable: counts as not rejected
    usable = [q for q, p in found.items() if p is not None]
    reject = dict.fromkeys(config.primary_questions, False)
    if usable:
        decisions, _, _, _ = multipletests([found[q] for q in usable], alpha=config.alpha,
                                           method="holm")
        reject.update({q: bool(r) for q, r in zip(usable, decisions)})
    return reject


def power(design: Design, participants: int, config: AnalysisConfig, simulations: int = 200,
          seed: int = 0, progress=None) -> PowerResult:
    config = config.model_copy(update={"primary_questions": tuple(
        q for q in config.primary_questions if q in design.p) or tuple(design.p)})
    rejects = []
    for i in range(simulations):
        rejects.append(decide(simulate_study(design, participants, seed * 1_000_003 + i), config))
        if progress:
            progress(1)
    power_by_q, intervals = {}, {}
    for q in config.primary_questions:
        hits = sum(r[q] for r in rejects)
        power_by_q[q] = hits / simulations
        intervals[q] = binomial(hits, simulations).wilson
    every = sum(all(r.values()) for r in rejects) / simulations
    return PowerResult(participants, power_by_q, intervals, every, simulations)


def participants_needed(design: Design, config: AnalysisConfig, target_power: float = 0.8,
                        simulations: int = 200, seed: int = 0, start: int = 8,
                        max_participants: int = 1000, progress=None) -> SampleSizeResult:
    """Smallest number of recruited participants for which every primary question's
    decision reaches the target power. Doubles, then bisects; the same seeds at every
    size keep the curve smooth enough to bisect."""
    curve: dict[int, PowerResult] = {}

    def at(n: int) -> PowerResult:
        if n not in curve:
            curve[n] = power(design, n, config, simulations, seed, progress)
        return curve[n]

    def enough(n: int) -> bool:
        return min(at(n).power.values()) >= target_power

    low, high = start // 2, start
    while not enough(high):
        low, high = high, high * 2
        if high > max_participants:
            return SampleSizeResult(target_power, None, tuple(curve[n] for n in sorted(curve)))
    while high - low > max(1, high // 20):  # 5% precision is all the simulation error allows
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return SampleSizeResult(target_power, high, tuple(curve[n] for n in sorted(curve)))


def _parse_p(values: list[str] | None) -> dict:
    from analysis.simulate import parse_probabilities

    return parse_probabilities(values or ["larger=0.7", "focused=0.3"], "power")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="camstudy power", description=__doc__.split("\n\n")[0])
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


def main(argv: list[str] | None = None) -> int:
    from analysis.config import load_config
    from analysis.errors import AnalysisError

    args = build_parser().parse_args(argv)
    if not 0 < args.power < 1 or args.pairs_per_participant < 1 or not 0 <= args.exclusion_rate < 1:
        print("power: error: --power must be between 0 and 1, --exclusion-rate in [0, 1), "
              "--pairs-per-participant at least 1", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except AnalysisError as exc:
        print(f"power: error: {exc}", file=sys.stderr)
        return 2
    design = Design(p=_parse_p(args.p), pairs=args.pairs,
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
            r = power(design, args.participants, config, args.simulations, args.seed, update)
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


if __name__ == "__main__":
    sys.exit(main())

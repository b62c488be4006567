"""Power and sample size by simulation, respecting participant clustering.

A simulated study has `participants` people who each make
`judgments_per_participant` judgments of different pairs. A judgment chooses
Grad-CAM with log-odds logit(p) + u[participant] + v[pair], u ~ N(0, participant_sd²),
v ~ N(0, pair_sd²), and is a tie at `tie_rate`. The test is the one the report
leads with for clustered data: Wilcoxon signed-rank of participants' proportions
against 0.5 (or the sign test). Studies are drawn in one vectorised batch.

`camstudy power --p 0.7 --power 0.8` prints the participants and judgments needed.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import expit, logit

from analysis.proportion import binomial
from analysis.results import Interval

TESTS = ("wilcoxon", "sign")


@dataclass(frozen=True)
class PowerResult:
    p: float
    participants: int
    judgments_per_participant: int
    judgments: int
    power: float
    interval: Interval        # Wilson interval of the simulated power
    test: str
    alpha: float
    simulations: int
    participant_sd: float
    pair_sd: float
    tie_rate: float


@dataclass(frozen=True)
class SampleSizeResult:
    target_power: float
    participants: int | None  # None: not reached within max_participants
    judgments: int | None
    curve: tuple[PowerResult, ...]


def simulate_pvalues(p, participants, judgments_per_participant, participant_sd=1.0,
                     pair_sd=0.5, tie_rate=0.1, test="wilcoxon", simulations=500,
                     seed=0) -> np.ndarray:
    """One p-value per simulated study."""
    if test not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)}, not {test!r}")
    rng = np.random.default_rng(seed)
    shape = (simulations, participants, judgments_per_participant)
    u = rng.normal(0, participant_sd, shape[:2])[:, :, None]
    # Each participant sees the study's pairs in their own order; a pair's effect is
    # shared by everyone who sees it.
    v_pairs = rng.normal(0, pair_sd, (simulations, 1, judgments_per_participant))
    chose = rng.random(shape) < expit(logit(p) + u + v_pairs)
    decided = rng.random(shape) >= tie_rate
    n = decided.sum(axis=2)
    k = (chose & decided).sum(axis=2)
    # A participant with no decided judgment gets difference 0, which the
    # Wilcoxon (zero_method="wilcox") and sign tests drop, as the report does.
    diff = np.where(n > 0, k / np.maximum(n, 1) - 0.5, 0.0)
    if test == "sign":
        above, below = (diff > 0).sum(axis=1), (diff < 0).sum(axis=1)
        return np.array([stats.binomtest(a, a + b).pvalue if a + b else 1.0
                         for a, b in zip(above, below)])
    # The normal approximation: scipy's default for small samples with tied
    # proportions is a permutation test (~60 ms per study), too slow for thousands
    # of studies. At a handful of participants the power is therefore approximate.
    res = stats.wilcoxon(diff, axis=1, zero_method="wilcox", method="asymptotic")
    return np.nan_to_num(np.asarray(res.pvalue, dtype=float), nan=1.0)


def power(p, participants, judgments_per_participant, alpha=0.05, **kwargs) -> PowerResult:
    pvalues = simulate_pvalues(p, participants, judgments_per_participant, **kwargs)
    hits = int((pvalues < alpha).sum())
    ci = binomial(hits, len(pvalues)).wilson
    return PowerResult(
        p=p, participants=participants, judgments_per_participant=judgments_per_participant,
        judgments=participants * judgments_per_participant, power=hits / len(pvalues),
        interval=ci, test=kwargs.get("test", "wilcoxon"), alpha=alpha,
        simulations=len(pvalues), participant_sd=kwargs.get("participant_sd", 1.0),
        pair_sd=kwargs.get("pair_sd", 0.5), tie_rate=kwargs.get("tie_rate", 0.1))


def participants_needed(p, target_power=0.8, judgments_per_participant=40, alpha=0.05,
                        max_participants=2000, **kwargs) -> SampleSizeResult:
    """Smallest number of participants whose simulated power reaches the target.

    Doubles until the target is reached, then bisects; the same seed is used at
    every size, so the power curve is smooth enough to bisect.
    """
    curve: dict[int, PowerResult] = {}

    def at(n: int) -> PowerResult:
        if n not in curve:
            curve[n] = power(p, n, judgments_per_participant, alpha, **kwargs)
        return curve[n]

    low, high = 2, 4
    while at(high).power < target_power:
        low, high = high, high * 2
        if high > max_participants:
            return SampleSizeResult(target_power, None, None, tuple(curve[n] for n in sorted(curve)))
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if at(mid).power < target_power else (low, mid)
    return SampleSizeResult(target_power, high, high * judgments_per_participant,
                            tuple(curve[n] for n in sorted(curve)))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="camstudy power", description=__doc__.split("\n\n")[0])
    ap.add_argument("--p", type=float, default=0.7,
                    help="chance a typical participant chooses Grad-CAM (default 0.7)")
    ap.add_argument("--power", type=float, default=0.8, help="target power (default 0.8)")
    ap.add_argument("--participants", type=int,
                    help="report the power for this many participants instead of searching")
    ap.add_argument("--judgments-per-participant", type=int, default=40)
    ap.add_argument("--participant-sd", type=float, default=1.0,
                    help="SD of participants' log-odds (default 1.0)")
    ap.add_argument("--pair-sd", type=float, default=0.5)
    ap.add_argument("--tie-rate", type=float, default=0.1)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--test", choices=TESTS, default="wilcoxon")
    ap.add_argument("--simulations", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 < args.p < 1 or not 0 < args.power < 1 or args.judgments_per_participant < 1:
        print("power: --p and --power must be between 0 and 1, and "
              "--judgments-per-participant at least 1", file=sys.stderr)
        return 2
    kwargs = dict(participant_sd=args.participant_sd, pair_sd=args.pair_sd,
                  tie_rate=args.tie_rate, test=args.test, simulations=args.simulations,
                  seed=args.seed)
    setting = (f"p = {args.p:g}, {args.judgments_per_participant} judgments per participant, "
               f"participant SD {args.participant_sd:g} and pair SD {args.pair_sd:g} (logit), "
               f"{args.tie_rate:.0%} ties, {args.test} test at alpha {args.alpha:g}, "
               f"{args.simulations} simulated studies")
    if args.participants:
        r = power(args.p, args.participants, args.judgments_per_participant, args.alpha, **kwargs)
        print(f"Power {r.power:.0%} (95% CI {r.interval.low:.0%}-{r.interval.high:.0%}) with "
              f"{r.participants} participants ({r.judgments:,} judgments); {setting}.")
        return 0
    result = participants_needed(args.p, args.power, args.judgments_per_participant,
                                 args.alpha, **kwargs)
    for r in result.curve:
        print(f"  {r.participants:5d} participants  {r.judgments:7,d} judgments  power {r.power:.0%}")
    if result.participants is None:
        print(f"Power {args.power:.0%} was not reached with up to 2000 participants; {setting}.")
        return 1
    print(f"{result.participants} participants ({result.judgments:,} judgments) give "
          f"{args.power:.0%} power; {setting}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Power and sample size by simulating the pre-registered decision.

Each simulated study is drawn with `analysis.synthetic` as the webapp would run it:
`--pairs` pairs in the study, each participant shown `--pairs-per-participant` of them,
least-shown pairs first and each pair's sides counterbalanced (webapp/survey/assignment.py),
two attention-check trials, ties at `--tie-rate`, participant and pair random effects.
A share `--exclusion-rate` of the recruited participants does not finish and is removed
by the pre-registered exclusions. Then exactly what decides in `camstudy report` runs:
the exclusions, the pre-registered model per primary question (the mixed model, or the
GEE with `mixed_model = false`) and Holm across the primary questions. Power is the share
of simulated studies in which the decision rejects for a question.

`camstudy power --p larger=0.7 --p focused=0.3 --power 0.8` (analysis.cli.power_main) prints
the participants needed.
"""
from __future__ import annotations

from dataclasses import dataclass


from analysis.settings import AnalysisConfig
from analysis.stats.multiplicity import holm
from analysis.stats.proportion import binomial


@dataclass(frozen=True)
class PowerDesign:
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


def simulate_study(design: PowerDesign, participants: int, seed: int):
    """One simulated export as the analysis reads it."""
    from analysis.inputs.load import prepare
    from analysis.synthetic import SimulationSpec, simulate_responses

    spec = SimulationSpec(participants=participants, pairs=design.pairs,
                          pairs_per_participant=design.pairs_per_participant, p=dict(design.p),
                          participant_sd=design.participant_sd, pair_sd=design.pair_sd,
                          tie_rate=design.tie_rate, dropout_rate=design.exclusion_rate,
                          allocation="webapp", attention_checks=design.attention_checks, seed=seed)
    return prepare(simulate_responses(spec), "simulated").frame


def decide(frame, config: AnalysisConfig) -> dict[str, bool]:
    """The report's decision on one export: exclusions, the model, Holm. Question -> reject."""
    from analysis.errors import NotComputable
    from analysis.inputs.exclusions import apply_exclusions
    from analysis.stats import regression

    kept, _ = apply_exclusions(frame, config)
    found = {}
    for q in config.primary_questions:
        try:
            found[q] = regression.fit_model(kept, q, config.confidence,
                                            use_mixed=config.mixed_model, ties=config.ties).pvalue
        except NotComputable:
            found[q] = None  # not computable: counts as not rejected
    usable = [q for q, p in found.items() if p is not None]
    reject = dict.fromkeys(config.primary_questions, False)
    if usable:
        decisions, _ = holm([found[q] for q in usable], config.alpha)
        reject.update({q: bool(r) for q, r in zip(usable, decisions)})
    return reject


def estimate_power(design: PowerDesign, participants: int, config: AnalysisConfig,
                   simulations: int = 200, seed: int = 0, progress=None) -> PowerResult:
    """The share of `simulations` simulated studies of `participants` recruited people in
    which the pre-registered decision rejects, per primary question (`progress(1)` after each)."""
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


def participants_needed(design: PowerDesign, config: AnalysisConfig, target_power: float = 0.8,
                        simulations: int = 200, seed: int = 0, start: int = 8,
                        max_participants: int = 1000, progress=None) -> SampleSizeResult:
    """Smallest number of recruited participants for which every primary question's
    decision reaches the target power. Doubles, then bisects; the same seeds at every
    size keep the curve smooth enough to bisect."""
    curve: dict[int, PowerResult] = {}

    def at(n: int) -> PowerResult:
        if n not in curve:
            curve[n] = estimate_power(design, n, config, simulations, seed, progress)
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

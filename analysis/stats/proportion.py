"""Judgment-level counts, the tie rate, and the exact binomial test for independent counts.

Counts of judgments are description: one participant gives many answers, so a binomial
test or interval on them ignores the clustering (under the null with participant effects
it rejected in about 35% of simulated studies). The tie rate gets a two-way clustered
interval. `binomial` stays for counts that are independent (simulated power, for example).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats
from scipy.special import expit

from analysis.errors import NotComputable
from analysis.stats import twoway
from analysis.stats.results import Interval, Skipped
from analysis.stats.rows import comparison_rows


@dataclass(frozen=True)
class Counts:
    """Answers to one question among comparison trials."""

    question: str
    gradcam: int
    hirescam: int
    same: int

    @property
    def decided(self) -> int:
        return self.gradcam + self.hirescam

    @property
    def total(self) -> int:
        return self.gradcam + self.hirescam + self.same


@dataclass(frozen=True)
class BinomialResult:
    """k successes of n against 0.5: estimate, two intervals, exact two-sided p."""

    k: int
    n: int
    proportion: float
    wilson: Interval
    exact: Interval
    pvalue: float


@dataclass(frozen=True)
class TieRate:
    """How often "about the same" was answered, with a two-way clustered interval."""

    observed: float       # ties / all answers (description)
    rate: float           # expit of the clustered logistic intercept (population-averaged)
    interval: Interval


@dataclass(frozen=True)
class ProportionResult:
    """Judgment-level counts: description only (one participant gives many answers, so
    no p-value or interval here treats them as independent)."""

    counts: Counts
    share: float | None           # Grad-CAM among non-ties
    share_ties_split: float       # ties counted half to each method
    ties: TieRate | Skipped


def count_answers(frame: pd.DataFrame, question: str) -> Counts:
    rows = comparison_rows(frame, question)
    method = rows["response_method"]
    return Counts(question, int(method.eq("gradcam").sum()),
                  int(method.eq("hirescam").sum()), int(method.eq("same").sum()))


def binomial(k: int, n: int, confidence: float = 0.95) -> BinomialResult:
    """Exact two-sided binomial test vs 0.5 with Wilson and Clopper-Pearson intervals."""
    if n <= 0:
        raise NotComputable("no decided answers (n = 0)")
    result = stats.binomtest(k, n, p=0.5, alternative="two-sided")
    wilson = result.proportion_ci(confidence_level=confidence, method="wilson")
    exact = result.proportion_ci(confidence_level=confidence, method="exact")
    return BinomialResult(
        k=k, n=n, proportion=k / n,
        wilson=Interval(wilson.low, wilson.high, confidence, "Wilson"),
        exact=Interval(exact.low, exact.high, confidence, "Clopper-Pearson"),
        pvalue=float(result.pvalue),
    )


def tie_rate(frame: pd.DataFrame, question: str, confidence: float = 0.95) -> TieRate:
    rows = comparison_rows(frame, question)
    rows = rows[rows["response_method"].isin(["gradcam", "hirescam", "same"])]
    if rows.empty:
        raise NotComputable("no answers")
    fit = twoway.intercept_only(rows["is_tie"], rows, "the tie rate")
    low, high = fit.bounds(0, confidence)
    return TieRate(observed=float(rows["is_tie"].mean()), rate=float(expit(fit.params[0])),
                   interval=Interval(float(expit(low)), float(expit(high)), confidence,
                                     f"logistic intercept, two-way clustered, t with {fit.df:g} df"))


def proportion_test(frame: pd.DataFrame, counts: Counts, confidence: float = 0.95) -> ProportionResult:
    if counts.total == 0:
        raise NotComputable(f"question '{counts.question}' has no answers in the analysed data")
    share = counts.gradcam / counts.decided if counts.decided else None
    split = (counts.gradcam + counts.same / 2) / counts.total
    ties = attempt_ties(frame, counts, confidence)
    return ProportionResult(counts=counts, share=share, share_ties_split=split, ties=ties)


def attempt_ties(frame, counts: Counts, confidence: float):
    if counts.same == 0:
        return Skipped("tie rate", "no 'about the same' answers")
    try:
        return tie_rate(frame, counts.question, confidence)
    except NotComputable as exc:
        return Skipped("tie rate", str(exc))

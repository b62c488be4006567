"""Judgment-level tests: how often Grad-CAM was chosen, with exact intervals.

These treat every judgment as independent, which they are not (one participant
gives many); they are reported because readers expect them, next to the
participant-level and mixed-model tests that respect the clustering.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_effectsize

from analysis.errors import NotComputable
from analysis.results import Interval, Skipped


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
class ProportionResult:
    counts: Counts
    test: BinomialResult | Skipped      # Grad-CAM among non-ties
    ties_split: BinomialResult | Skipped  # sensitivity: ties count half each
    cohens_h: float | None              # effect size of `test` vs 0.5


def count_answers(frame: pd.DataFrame, question: str) -> Counts:
    rows = frame[frame["is_comparison"] & frame["question_id"].eq(question)]
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


def ties_split(counts: Counts) -> tuple[int, int]:
    """Ties counted half to each method; with an odd number of ties one is left out,
    because the exact test needs whole counts."""
    half = counts.same // 2
    return counts.gradcam + half, counts.decided + 2 * half


def cohens_h(proportion: float, null: float = 0.5) -> float:
    return float(proportion_effectsize(proportion, null))


def proportion_test(counts: Counts, confidence: float = 0.95) -> ProportionResult:
    if counts.total == 0:
        raise NotComputable(f"question '{counts.question}' has no answers in the analysed data")
    if counts.decided:
        test = binomial(counts.gradcam, counts.decided, confidence)
        h = cohens_h(test.proportion)
    else:
        test = Skipped("proportion among non-ties",
                       f"all {counts.same} answers were 'about the same'")
        h = None
    k, n = ties_split(counts)
    split = binomial(k, n, confidence) if n else Skipped(
        "ties split evenly", "a single answer, a tie, cannot be split")
    return ProportionResult(counts=counts, test=test, ties_split=split, cohens_h=h)

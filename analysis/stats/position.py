"""Position bias: do people prefer Image A (left) whatever method it shows?

Methods were counterbalanced across sides, so a side preference does not bias the
method comparison, but it adds noise and is worth reporting. The test is the side
term of a logistic regression of "chose Grad-CAM" on the side Grad-CAM was shown on,
with standard errors cluster-robust for participant and pair (analysis/stats/twoway.py):
participants differ in how much they prefer the left image, and a binomial test on
answers, as this module once used, rejected 13% of null studies with no side
preference at all and 19-32% when preferences varied between participants.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from analysis.errors import NotComputable
from analysis.stats import twoway
from analysis.stats.results import Interval


@dataclass(frozen=True)
class PositionBiasResult:
    question: str          # "all" pools every question
    chose_a: int
    chose_b: int
    probability_a: float   # chance of choosing Image A, the two methods averaged (logit scale)
    interval: Interval
    pvalue: float          # no preference: probability_a = 1/2


def position_bias(frame: pd.DataFrame, question: str | None = None,
                  confidence: float = 0.95) -> PositionBiasResult:
    rows = frame[frame["is_comparison"] & frame["chose_gradcam"].notna()]
    if question is not None:
        rows = rows[rows["question_id"].eq(question)]
    if rows.empty:
        raise NotComputable("no answers chose a side")
    a = int(rows["response_side"].eq("A").sum())
    side = np.where(rows["gradcam_on_a"].to_numpy(bool), 0.5, -0.5)
    # One intercept per question (questions differ in how often Grad-CAM is chosen).
    intercepts = pd.get_dummies(rows["question_id"]).to_numpy(float)
    if rows["gradcam_on_a"].nunique() < 2:
        raise NotComputable("Grad-CAM was always shown on the same side")
    fit = twoway.fit(rows["chose_gradcam"].to_numpy(float), np.column_stack([intercepts, side]),
                     rows, "the position test")
    k = intercepts.shape[1]
    # logit P(A) = +-(intercept) + side/2: averaged over which method is on A, side/2.
    low, high = fit.bounds(k, confidence)
    return PositionBiasResult(
        question=question or "all", chose_a=a, chose_b=len(rows) - a,
        probability_a=float(expit(fit.params[k] / 2)),
        interval=Interval(float(expit(low / 2)), float(expit(high / 2)), confidence,
                          f"side term, two-way clustered, t with {fit.df:g} df"),
        pvalue=fit.pvalue(k))

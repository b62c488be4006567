"""Trial order and response times: does the choice drift over the session, and how long
do answers take?

Order: a logistic regression of "chose Grad-CAM" on the side and the trial's position in
the participant's sequence (per 10 trials), standard errors cluster-robust for
participant and pair (analysis/twoway.py). Allocation shuffles each participant's pairs,
so a slope means learning or fatigue, not a pair effect. Response times are description:
medians by answer, no p-value (times are skewed, and which answer is faster is not a
question the design randomises).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import twoway
from analysis.clustered import decided
from analysis.errors import NotComputable
from analysis.results import Interval


@dataclass(frozen=True)
class OrderResult:
    question: str
    odds_ratio_per_10_trials: float   # of choosing Grad-CAM, ten trials later
    interval: Interval
    pvalue: float
    trials: int                       # the longest sequence


@dataclass(frozen=True)
class ResponseTimes:
    question: str
    median_ms: dict                   # answer ("gradcam", "hirescam", "same") -> median ms
    answers: dict                     # answer -> number of timed answers


def trial_order(frame: pd.DataFrame, question: str, confidence: float = 0.95) -> OrderResult:
    if "trial_index" not in frame:
        raise NotComputable("the export has no trial_index column")
    rows = decided(frame, question)
    index = pd.to_numeric(rows["trial_index"], errors="coerce")
    rows, index = rows[index.notna()], index[index.notna()].to_numpy(float)
    if len(np.unique(index)) < 3:
        raise NotComputable("needs answers at 3 or more trial positions")
    side = np.where(rows["gradcam_on_a"].to_numpy(bool), 0.5, -0.5)
    columns = [np.ones(len(rows)), index / 10]
    if rows["gradcam_on_a"].nunique() > 1:
        columns.insert(1, side)
    fit = twoway.fit(rows["chose_gradcam"].to_numpy(float), np.column_stack(columns), rows,
                     "the trial-order model")
    k = len(columns) - 1
    low, high = fit.bounds(k, confidence)
    return OrderResult(question, float(np.exp(fit.params[k])),
                       Interval(float(np.exp(low)), float(np.exp(high)), confidence,
                                f"two-way clustered, t with {fit.df:g} df"),
                       fit.pvalue(k), int(index.max()) + 1)


def response_times(frame: pd.DataFrame, question: str) -> ResponseTimes:
    if "rt_ms" not in frame:
        raise NotComputable("the export has no rt_ms column")
    rows = frame[frame["is_comparison"] & frame["question_id"].eq(question) & frame["rt_ms"].notna()]
    if rows.empty:
        raise NotComputable("no timed answers")
    grouped = rows.groupby("response_method")["rt_ms"]
    return ResponseTimes(question, {k: float(v) for k, v in grouped.median().items()},
                         {k: int(v) for k, v in grouped.size().items()})

"""Trial order and response times: does the choice drift over the session, and how long
do answers take?

Order: a logistic regression of "chose Grad-CAM" on the side and the trial's position in
the participant's sequence (per 10 trials, centred within each participant), a GEE
clustered by participant with Mancl & DeRouen's bias-reduced sandwich and Student's t on
participants - 1 df. Allocation shuffles each participant's pairs, so the centred position
is unrelated to which pair was shown and pair effects do not correlate with it; a slope
means learning or fatigue. (The two-way cluster-robust version rejected a true zero slope
in 10% of 200 simulated null studies of 24 participants x 16 pairs.) Response times are description:
medians by answer, no p-value (times are skewed, and which answer is faster is not a
question the design randomises).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.errors import NotComputable
from analysis.stats.results import Interval
from analysis.stats.rows import comparison_rows, decided


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
    participants = pd.factorize(rows["participant_id"])[0]
    if len(np.unique(participants)) < 3:
        raise NotComputable("needs at least 3 participants")
    centred = (index - pd.Series(index).groupby(participants).transform("mean").to_numpy()) / 10
    columns = [np.ones(len(rows)), centred]
    if rows["gradcam_on_a"].nunique() > 1:
        columns.insert(1, np.where(rows["gradcam_on_a"].to_numpy(bool), 0.5, -0.5))
    slope, se, df = _participant_clustered(rows["chose_gradcam"].to_numpy(float),
                                           np.column_stack(columns), participants)
    q = stats.t.ppf(0.5 + confidence / 2, df)
    return OrderResult(question, float(np.exp(slope)),
                       Interval(float(np.exp(slope - q * se)), float(np.exp(slope + q * se)),
                                confidence, f"GEE clustered by participant, bias-reduced, t with {df:g} df"),
                       float(2 * stats.t.sf(abs(slope / se), df)), int(index.max()) + 1)


def _participant_clustered(chose, exog, groups) -> tuple[float, float, float]:
    """Last coefficient, its bias-reduced standard error and df of a logistic GEE."""
    import warnings

    import statsmodels.api as sm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GEE(chose, exog, groups=groups, family=sm.families.Binomial(),
                     cov_struct=sm.cov_struct.Independence()).fit(cov_type="bias_reduced")
        variance = np.diag(np.asarray(fit.cov_robust_bc))
    if not np.isfinite(variance[-1]) or variance[-1] <= 0:
        raise NotComputable("no usable standard error for the trial-order slope")
    return float(fit.params[-1]), float(np.sqrt(variance[-1])), float(len(np.unique(groups)) - 1)


def response_times(frame: pd.DataFrame, question: str) -> ResponseTimes:
    if "rt_ms" not in frame:
        raise NotComputable("the export has no rt_ms column")
    rows = comparison_rows(frame, question)
    rows = rows[rows["rt_ms"].notna()]
    if rows.empty:
        raise NotComputable("no timed answers")
    grouped = rows.groupby("response_method")["rt_ms"]
    return ResponseTimes(question, {k: float(v) for k, v in grouped.median().items()},
                         {k: int(v) for k, v in grouped.size().items()})

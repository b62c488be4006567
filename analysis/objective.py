"""Objective vs subjective: do people pick the map the manifest's metrics favour?

"larger" is compared with `area_above_half` (the map with more area above 0.5),
"focused" with `entropy` (the map with lower entropy is more concentrated).
The logistic regression of "chose Grad-CAM" on log(area Grad-CAM / area HiResCAM)
uses standard errors clustered by participant.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.clustered import decided
from analysis.errors import NotComputable
from analysis.proportion import BinomialResult, binomial
from analysis.results import Interval

# question -> (metric, does the objectively "chosen" map have the higher value?)
METRIC_FOR_QUESTION = {"larger": ("area_above_half", True), "focused": ("entropy", False)}


@dataclass(frozen=True)
class ObjectiveAgreementResult:
    question: str
    metric: str
    agreed: int           # chose the map the metric favours
    disagreed: int
    pairs_without_difference: int
    test: BinomialResult  # proportion agreeing with the metric, vs 0.5


@dataclass(frozen=True)
class AreaRegressionResult:
    question: str
    slope: float                 # log-odds of choosing Grad-CAM per unit log area ratio
    odds_ratio_per_doubling: float
    interval: Interval           # for odds_ratio_per_doubling
    pvalue: float
    observations: int
    pairs_with_zero_area: int    # clipped to half a pixel before taking logs


def with_metrics(frame: pd.DataFrame, pairs: pd.DataFrame, question: str) -> pd.DataFrame:
    rows = decided(frame, question)
    merged = rows.merge(pairs.drop(columns=["class_name", "image_id"], errors="ignore"),
                        on="pair_id", how="inner")
    if merged.empty:
        raise NotComputable("no analysed pair is in the manifest")
    return merged


def objective_agreement(frame, pairs, question, confidence=0.95) -> ObjectiveAgreementResult:
    if question not in METRIC_FOR_QUESTION:
        raise NotComputable(f"no manifest metric corresponds to question '{question}'")
    metric, higher = METRIC_FOR_QUESTION[question]
    rows = with_metrics(frame, pairs, question)
    diff = (rows[f"gradcam_{metric}"] - rows[f"hirescam_{metric}"]).astype(float)
    if diff.isna().all():
        raise NotComputable(f"the manifest has no '{metric}' metrics")
    favoured_gradcam = diff > 0 if higher else diff < 0
    usable = diff.notna() & diff.ne(0)
    agreed = int((rows.loc[usable, "chose_gradcam"].eq(1) == favoured_gradcam[usable]).sum())
    n = int(usable.sum())
    if n == 0:
        raise NotComputable(f"the two maps have equal '{metric}' on every pair")
    no_diff = int(rows.loc[~usable, "pair_id"].nunique())
    return ObjectiveAgreementResult(question, metric, agreed, n - agreed, no_diff,
                                    binomial(agreed, n, confidence))


def log_area_ratio(rows: pd.DataFrame, floor: float) -> tuple[pd.Series, int]:
    g = rows["gradcam_area_above_half"].astype(float)
    h = rows["hirescam_area_above_half"].astype(float)
    zero = (g <= 0) | (h <= 0)
    ratio = np.log(g.clip(lower=floor) / h.clip(lower=floor))
    return ratio, int(rows.loc[zero, "pair_id"].nunique())


def area_regression(frame, pairs, question, floor: float = 1e-4,
                    confidence=0.95) -> AreaRegressionResult:
    import statsmodels.api as sm

    rows = with_metrics(frame, pairs, question)
    rows = rows[rows["gradcam_area_above_half"].notna() & rows["hirescam_area_above_half"].notna()]
    if rows.empty:
        raise NotComputable("the manifest has no 'area_above_half' metrics")
    x, zero = log_area_ratio(rows, floor)
    if x.nunique() < 2 or rows["chose_gradcam"].nunique() < 2:
        raise NotComputable("needs varying area ratios and both methods chosen")
    groups = pd.factorize(rows["participant_id"])[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.Logit(rows["chose_gradcam"].to_numpy(float), sm.add_constant(x.to_numpy())).fit(
            disp=False, cov_type="cluster", cov_kwds={"groups": groups})
    slope, se = float(fit.params[1]), float(fit.bse[1])
    lo, hi = fit.conf_int(alpha=1 - confidence)[1]
    ln2 = np.log(2)
    return AreaRegressionResult(
        question=question, slope=slope, odds_ratio_per_doubling=float(np.exp(slope * ln2)),
        interval=Interval(float(np.exp(lo * ln2)), float(np.exp(hi * ln2)), confidence,
                          "Wald, clustered by participant"),
        pvalue=float(fit.pvalues[1]), observations=len(rows), pairs_with_zero_area=zero)

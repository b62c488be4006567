"""Ties as an outcome: an ordinal (cumulative logit) model of HiResCAM < about the same < Grad-CAM.

A sensitivity analysis of the primary model, which sets ties aside. statsmodels'
OrderedModel with the side as covariate, standard errors cluster-robust for participant
and pair together, Student's t on min(participants, pairs) - 1 df. The two thresholds
t1 < t2 bound the "about the same" band on a latent logistic preference scale; the
methods are judged alike on average when the band is centred on 0, so the estimate is
expit(-(t1 + t2) / 2): the chance that the latent preference falls on Grad-CAM's side of
the middle of the band (1/2 when neither method is preferred).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from analysis.errors import NotComputable
from analysis.stats.regression import ModelResult
from analysis.stats.results import Interval
from analysis.stats.rows import comparison_rows

LEVELS = {"hirescam": 0, "same": 1, "gradcam": 2}


def ordinal_model(frame: pd.DataFrame, question: str, confidence: float = 0.95) -> ModelResult:
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    rows = comparison_rows(frame, question)
    rows = rows[rows["response_method"].isin(list(LEVELS))]
    y = rows["response_method"].map(LEVELS).to_numpy()
    if len(np.unique(y)) < 3:
        raise NotComputable("needs answers in all three categories (Grad-CAM, HiResCAM, about the same)")
    groups = np.column_stack([pd.factorize(rows[c])[0] for c in ("participant_id", "pair_id")])
    participants, pairs = (len(np.unique(g)) for g in groups.T)
    if min(participants, pairs) < 3:
        raise NotComputable("needs at least 3 participants and 3 pairs")
    side = np.where(rows["gradcam_on_a"].to_numpy(bool), 0.5, -0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = OrderedModel(y, side[:, None], distr="logit").fit(
            method="bfgs", disp=False, cov_type="cluster", cov_kwds={"groups": groups})
    params, cov = np.asarray(fit.params), np.asarray(fit.cov_params())
    # params: side, t1, log(t2 - t1). centre = t1 + exp(.)/2; the delta method for its SE.
    centre = params[1] + np.exp(params[2]) / 2
    grad = np.array([0.0, 1.0, np.exp(params[2]) / 2])
    se = float(np.sqrt(grad @ cov @ grad))
    if not np.isfinite(se) or se <= 0:
        raise NotComputable("the ordinal model gave no usable standard error")
    df = min(participants, pairs) - 1
    q = stats.t.ppf(0.5 + confidence / 2, df)
    method = f"cumulative logit, two-way clustered, t with {df} df"
    est = -centre

    def interval(transform):
        return Interval(float(transform(est - q * se)), float(transform(est + q * se)),
                        confidence, method)

    side_se = float(np.sqrt(cov[0, 0]))
    return ModelResult(
        model="ordinal", description="ordinal (cumulative logit) model, statsmodels OrderedModel",
        estimand=("the chance that the latent preference falls on Grad-CAM's side of the middle "
                  "of the 'about the same' band, ties kept as the middle answer"),
        probability=float(expit(est)), probability_interval=interval(expit),
        odds_ratio=float(np.exp(est)), interval=interval(np.exp),
        pvalue=float(2 * stats.t.sf(abs(est / se), df)), df=float(df), se=se,
        side_odds_ratio=float(np.exp(params[0])),
        side_interval=Interval(float(np.exp(params[0] - q * side_se)),
                               float(np.exp(params[0] + q * side_se)), confidence, method),
        observations=len(rows), participants=participants, pairs=pairs, ties="outcome")

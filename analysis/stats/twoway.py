"""Logistic regression with standard errors cluster-robust for participant and pair.

Every participant judges many pairs and every pair is judged by many participants, so
answers share two crossed sources of correlation. A logistic regression (a GEE with an
independence working correlation) whose sandwich variance is two-way cluster-robust
(Cameron, Gelbach & Miller; statsmodels' `cov_type="cluster"` with two group columns),
with Student's t on min(participants, pairs) - 1 degrees of freedom, is what the report
uses wherever it gives a p-value or an interval outside the primary mixed model: the
fallback model, position bias, the tie rate, agreement with objective metrics and the
per-class estimates. Its estimates are population-averaged (over participants and pairs).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.errors import NotComputable


@dataclass(frozen=True)
class TwoWayFit:
    params: np.ndarray
    se: np.ndarray
    df: float
    participants: int
    pairs: int
    observations: int

    def t(self, i: int) -> float:
        return float(self.params[i] / self.se[i])

    def pvalue(self, i: int) -> float:
        return float(2 * stats.t.sf(abs(self.t(i)), self.df))

    def bounds(self, i: int, confidence: float) -> tuple[float, float]:
        q = stats.t.ppf(0.5 + confidence / 2, self.df)
        return (float(self.params[i] - q * self.se[i]), float(self.params[i] + q * self.se[i]))


def fit(endog: np.ndarray, exog: np.ndarray, rows: pd.DataFrame, what: str) -> TwoWayFit:
    """Logistic regression of endog (0/1, or fractions) on exog, two-way clustered."""
    import statsmodels.api as sm

    groups = np.column_stack([pd.factorize(rows[c])[0] for c in ("participant_id", "pair_id")])
    participants, pairs = (len(np.unique(g)) for g in groups.T)
    if participants < 2 or pairs < 2:
        raise NotComputable(f"{what} needs at least 2 participants and 2 pairs "
                            f"(found {participants} and {pairs})")
    with warnings.catch_warnings():
        # Separation is checked below from the fitted values; what is left is noise such
        # as statsmodels' note that the IRLS deviance settled.
        warnings.simplefilter("ignore")
        result = sm.GLM(endog, exog, family=sm.families.Binomial()).fit(
            cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    fitted = np.asarray(result.fittedvalues)
    if np.any(fitted < 1e-6) or np.any(fitted > 1 - 1e-6):
        raise NotComputable(f"{what}: some answers are perfectly predicted (an odds ratio is "
                            "infinite and has no standard error)")
    variance = np.diag(np.asarray(result.cov_params()))
    if not np.all(np.isfinite(variance)) or np.any(variance <= 0):
        # cov(participant) + cov(pair) - cov(answer) need not be positive with few clusters.
        raise NotComputable(
            f"{what}: the two-way cluster-robust variance is not positive ({participants} "
            f"participants, {pairs} pairs are too few to estimate it)")
    return TwoWayFit(np.asarray(result.params, float), np.sqrt(variance),
                     float(result.df_resid_inference), participants, pairs, len(rows))


def intercept_only(indicator: pd.Series, rows: pd.DataFrame, what: str) -> TwoWayFit:
    """The share of rows where `indicator` holds, as a two-way clustered logistic intercept."""
    values = indicator.to_numpy(float)
    if values.min() == values.max():
        raise NotComputable(f"{what}: every answer is alike ({'all' if values[0] else 'none'}), "
                            "so the share has no clustered interval")
    return fit(values, np.ones((len(rows), 1)), rows, what)

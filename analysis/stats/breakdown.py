"""Per-class breakdown: the chance of choosing Grad-CAM within each explained class.

Classes are few and uneven in size, so these are descriptive: an estimate and an
interval per class, no p-value and no multiplicity correction. The estimates come from
one logistic regression with a coefficient per class and the side term, standard errors
cluster-robust for participant and pair (analysis/stats/twoway.py); a class's interval uses
Student's t on min(participants, the class's pairs) - 1 df, because a class with 4 pairs
has about 4 independent pieces of pair information, however many people judged them.
A binomial interval per class on judgments, as this module once drew, was far too narrow.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from analysis.errors import NotComputable
from analysis.stats import twoway
from analysis.stats.results import Interval
from analysis.stats.rows import comparison_rows, decided


@dataclass(frozen=True)
class ClassResult:
    question: str
    class_name: str
    gradcam: int
    decided: int
    same: int
    pairs: int
    probability: float            # population-averaged within the class, sides averaged
    interval: Interval | None     # None when the class has a single pair


def per_class(frame: pd.DataFrame, question: str, confidence: float = 0.95) -> tuple[ClassResult, ...]:
    if "class_name" not in frame.columns:
        raise NotComputable("the export has no class_name column")
    rows = decided(frame, question)
    if rows.empty:
        raise NotComputable("no class has a decided answer")
    classes = pd.Categorical(rows["class_name"])
    dummies = pd.get_dummies(classes).to_numpy(float)
    side = np.where(rows["gradcam_on_a"].to_numpy(bool), 0.5, -0.5)
    exog = np.column_stack([dummies, side]) if rows["gradcam_on_a"].nunique() > 1 else dummies
    fit = twoway.fit(rows["chose_gradcam"].to_numpy(float), exog, rows, "the per-class model")
    ties = comparison_rows(frame, question)
    out = []
    for k, name in enumerate(classes.categories):
        mine = rows[rows["class_name"].eq(name)]
        n_pairs = int(mine["pair_id"].nunique())
        df = min(fit.participants, n_pairs) - 1
        interval = None
        if df >= 1:
            q = stats.t.ppf(0.5 + confidence / 2, df)
            interval = Interval(float(expit(fit.params[k] - q * fit.se[k])),
                                float(expit(fit.params[k] + q * fit.se[k])), confidence,
                                f"two-way clustered, t with {df} df")
        same = int((ties["class_name"].eq(name) & ties["is_tie"]).sum())
        out.append(ClassResult(question, str(name), int(mine["chose_gradcam"].sum()), len(mine),
                               same, n_pairs, float(expit(fit.params[k])), interval))
    return tuple(out)

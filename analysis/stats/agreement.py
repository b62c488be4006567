"""Agreement between participants on the same pair (inter-rater reliability).

Categories are the method chosen: Grad-CAM, HiResCAM, about the same.
Krippendorff's alpha (the `krippendorff` package) handles pairs with different numbers
of raters and uses every rating, so the same data give the same number every time.
(Fleiss' kappa needs equal raters per pair; the random subsample it once used made it
range from -0.18 to 0.21 across seeds on the same data, so it is no longer shown.)

Item-level reliability comes from the mixed model's variance components: on the logit
scale a choice is pair effect + participant effect + logistic noise (variance pi^2/3),
so the intraclass correlation of two ratings of the same pair is
pair_var / (pair_var + participant_var + pi^2/3), and the reliability of a pair's mean
verdict over k ratings is pair_var / (pair_var + (participant_var + pi^2/3) / k)
(Spearman-Brown).
"""
from __future__ import annotations

from dataclasses import dataclass

import krippendorff
import numpy as np
import pandas as pd

from analysis.errors import NotComputable
from analysis.stats.rows import comparison_rows

CATEGORIES = ("gradcam", "hirescam", "same")
LOGISTIC_VARIANCE = np.pi ** 2 / 3


@dataclass(frozen=True)
class AgreementResult:
    question: str
    pairs: int                 # pairs with at least two ratings
    ratings: int
    krippendorff_alpha: float


@dataclass(frozen=True)
class Reliability:
    """From the mixed model's variance components (logit scale)."""

    pair_icc: float            # correlation of two ratings of the same pair
    raters_per_pair: float     # mean ratings per pair
    pair_mean_reliability: float


def rating_table(frame: pd.DataFrame, question: str) -> pd.DataFrame:
    """Pairs x categories counts, for pairs rated at least twice."""
    rows = comparison_rows(frame, question)
    table = pd.crosstab(rows["pair_id"], rows["response_method"])
    table = table.reindex(columns=list(CATEGORIES), fill_value=0)
    return table[table.sum(axis=1) >= 2]


def agreement(frame: pd.DataFrame, question: str) -> AgreementResult:
    table = rating_table(frame, question)
    if len(table) < 2:
        raise NotComputable(f"needs at least 2 pairs rated by 2 or more participants, found {len(table)}")
    counts = table.to_numpy()
    if (counts > 0).sum(axis=1).max() == 1 and len(np.unique(counts.argmax(axis=1))) == 1:
        raise NotComputable("every rating is the same category, so agreement is undefined")
    alpha = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
    return AgreementResult(question=question, pairs=len(table), ratings=int(counts.sum()),
                           krippendorff_alpha=float(alpha))


def reliability(model, observations: int) -> Reliability:
    """`model`: a mixed-model ModelResult (with participant_sd and pair_sd)."""
    if model.pair_sd is None or model.participant_sd is None:
        raise NotComputable("needs the mixed model's variance components (the GEE has none)")
    pair_var, person_var = model.pair_sd ** 2, model.participant_sd ** 2
    k = observations / model.pairs
    return Reliability(
        pair_icc=float(pair_var / (pair_var + person_var + LOGISTIC_VARIANCE)),
        raters_per_pair=float(k),
        pair_mean_reliability=float(pair_var / (pair_var + (person_var + LOGISTIC_VARIANCE) / k)))

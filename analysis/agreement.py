"""Agreement between participants on the same pair (inter-rater reliability).

Categories are the method chosen: Grad-CAM, HiResCAM, about the same.
Krippendorff's alpha handles pairs with different numbers of raters; Fleiss'
kappa needs the same number of raters on every pair, so it is computed on a
seeded random subset of `m` ratings per pair (m = the smallest count among
pairs rated at least twice) and says so.
"""
from __future__ import annotations

from dataclasses import dataclass

import krippendorff
import numpy as np
import pandas as pd
from statsmodels.stats.inter_rater import fleiss_kappa

from analysis.errors import NotComputable

CATEGORIES = ("gradcam", "hirescam", "same")


@dataclass(frozen=True)
class AgreementResult:
    question: str
    pairs: int                 # pairs with at least two ratings
    ratings: int
    krippendorff_alpha: float
    fleiss_kappa: float
    fleiss_raters_per_pair: int


def rating_table(frame: pd.DataFrame, question: str) -> pd.DataFrame:
    """Pairs x categories counts, for pairs rated at least twice."""
    rows = frame[frame["is_comparison"] & frame["question_id"].eq(question)]
    table = pd.crosstab(rows["pair_id"], rows["response_method"])
    table = table.reindex(columns=list(CATEGORIES), fill_value=0)
    return table[table.sum(axis=1) >= 2]


def agreement(frame: pd.DataFrame, question: str, seed: int = 0) -> AgreementResult:
    table = rating_table(frame, question)
    if len(table) < 2:
        raise NotComputable(f"needs at least 2 pairs rated by 2 or more participants, found {len(table)}")
    counts = table.to_numpy()
    if (counts > 0).sum(axis=1).max() == 1 and len(np.unique(counts.argmax(axis=1))) == 1:
        raise NotComputable("every rating is the same category, so agreement is undefined")
    alpha = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
    m = int(counts.sum(axis=1).min())
    kappa = fleiss_kappa(_subsample(counts, m, np.random.default_rng(seed)), method="fleiss")
    return AgreementResult(question=question, pairs=len(table), ratings=int(counts.sum()),
                           krippendorff_alpha=float(alpha), fleiss_kappa=float(kappa),
                           fleiss_raters_per_pair=m)


def _subsample(counts: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Draw m of each pair's ratings without replacement (Fleiss needs equal raters)."""
    return np.array([rng.multivariate_hypergeometric(row, m) for row in counts])

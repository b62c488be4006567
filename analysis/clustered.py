"""Tests whose unit is a participant or a pair, not a judgment.

A participant who always picks Grad-CAM contributes one observation here, not
forty, so these tests keep their level when participants differ (they do).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats

from analysis.errors import NotComputable
from analysis.proportion import BinomialResult, binomial


@dataclass(frozen=True)
class ParticipantTestResult:
    """Each participant's proportion choosing Grad-CAM, tested against 0.5."""

    participants: int
    mean_proportion: float
    median_proportion: float
    above_half: int
    below_half: int
    at_half: int
    wilcoxon_statistic: float
    wilcoxon_pvalue: float
    sign_pvalue: float


@dataclass(frozen=True)
class PairMajorityResult:
    """Majority verdict per pair across participants, binomial test across pairs."""

    pairs: int
    gradcam_pairs: int
    hirescam_pairs: int
    tied_pairs: int
    test: BinomialResult


def decided(frame: pd.DataFrame, question: str) -> pd.DataFrame:
    """Comparison answers to one question that chose a method (no ties)."""
    rows = frame[frame["is_comparison"] & frame["question_id"].eq(question)]
    return rows[rows["chose_gradcam"].notna()]


def participant_proportions(frame: pd.DataFrame, question: str) -> pd.Series:
    return decided(frame, question).groupby("participant_id")["chose_gradcam"].mean()


def participant_test(frame: pd.DataFrame, question: str) -> ParticipantTestResult:
    props = participant_proportions(frame, question)
    if len(props) < 2:
        raise NotComputable(
            f"needs at least 2 participants with a decided answer, found {len(props)}")
    diff = props - 0.5
    above, below = int((diff > 0).sum()), int((diff < 0).sum())
    if above + below == 0:
        raise NotComputable("every participant chose Grad-CAM exactly half of the time")
    # zero_method="wilcox" drops participants at exactly 0.5, as the sign test does.
    wil = stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided")
    sign = stats.binomtest(above, above + below, 0.5)
    return ParticipantTestResult(
        participants=len(props), mean_proportion=float(props.mean()),
        median_proportion=float(props.median()), above_half=above, below_half=below,
        at_half=int((diff == 0).sum()), wilcoxon_statistic=float(wil.statistic),
        wilcoxon_pvalue=float(wil.pvalue), sign_pvalue=float(sign.pvalue),
    )


def pair_votes(frame: pd.DataFrame, question: str) -> pd.DataFrame:
    rows = decided(frame, question)
    votes = rows.groupby("pair_id")["chose_gradcam"].agg(["sum", "count"])
    votes = votes.rename(columns={"sum": "gradcam", "count": "decided"})
    votes["hirescam"] = votes["decided"] - votes["gradcam"]
    votes["verdict"] = "tie"
    votes.loc[votes["gradcam"] > votes["hirescam"], "verdict"] = "gradcam"
    votes.loc[votes["gradcam"] < votes["hirescam"], "verdict"] = "hirescam"
    return votes


def pair_majority_test(frame: pd.DataFrame, question: str,
                       confidence: float = 0.95) -> PairMajorityResult:
    votes = pair_votes(frame, question)
    g = int(votes["verdict"].eq("gradcam").sum())
    h = int(votes["verdict"].eq("hirescam").sum())
    if g + h == 0:
        raise NotComputable(f"no pair has a majority verdict ({len(votes)} pairs, all tied)")
    return PairMajorityResult(pairs=len(votes), gradcam_pairs=g, hirescam_pairs=h,
                              tied_pairs=len(votes) - g - h,
                              test=binomial(g, g + h, confidence))

"""Participant- and pair-level summaries: description, without p-values.

A participant who always picks Grad-CAM counts once here, not forty times, which is
why these summaries are shown. They carry no p-value: a Wilcoxon or sign test across
participants treats the pairs as fixed (with pair SD 0.5 on 10 pairs it rejected a true
50% in 12% of simulated studies), and pair majorities share the same participants, so
a binomial test across pairs is not valid either (14% under the null). The decision is
the mixed model's (analysis/stats/regression.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.errors import NotComputable
from analysis.stats.rows import decided


@dataclass(frozen=True)
class ParticipantSummary:
    """Each participant's share of Grad-CAM among their decided answers."""

    participants: int
    mean_proportion: float
    median_proportion: float
    above_half: int
    below_half: int
    at_half: int


@dataclass(frozen=True)
class PairSummary:
    """Majority verdict per pair across participants."""

    pairs: int
    gradcam_pairs: int
    hirescam_pairs: int
    tied_pairs: int


def participant_proportions(frame: pd.DataFrame, question: str) -> pd.Series:
    return decided(frame, question).groupby("participant_id")["chose_gradcam"].mean()


def participant_summary(frame: pd.DataFrame, question: str) -> ParticipantSummary:
    props = participant_proportions(frame, question)
    if len(props) < 1:
        raise NotComputable("no participant has a decided answer")
    diff = props - 0.5
    return ParticipantSummary(
        participants=len(props), mean_proportion=float(props.mean()),
        median_proportion=float(props.median()), above_half=int((diff > 0).sum()),
        below_half=int((diff < 0).sum()), at_half=int((diff == 0).sum()))


def pair_votes(frame: pd.DataFrame, question: str) -> pd.DataFrame:
    rows = decided(frame, question)
    votes = rows.groupby("pair_id")["chose_gradcam"].agg(["sum", "count"])
    votes = votes.rename(columns={"sum": "gradcam", "count": "decided"}).astype(int)
    votes["hirescam"] = votes["decided"] - votes["gradcam"]
    votes["verdict"] = "tie"
    votes.loc[votes["gradcam"] > votes["hirescam"], "verdict"] = "gradcam"
    votes.loc[votes["gradcam"] < votes["hirescam"], "verdict"] = "hirescam"
    return votes


def pair_summary(frame: pd.DataFrame, question: str) -> PairSummary:
    votes = pair_votes(frame, question)
    if votes.empty:
        raise NotComputable("no pair has a decided answer")
    g = int(votes["verdict"].eq("gradcam").sum())
    h = int(votes["verdict"].eq("hirescam").sum())
    return PairSummary(pairs=len(votes), gradcam_pairs=g, hirescam_pairs=h,
                       tied_pairs=len(votes) - g - h)

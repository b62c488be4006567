"""Position bias: do people prefer Image A (left) whatever method it shows?

Methods were counterbalanced across sides, so a side preference does not bias
the method comparison, but it adds noise and is worth reporting.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.errors import NotComputable
from analysis.proportion import BinomialResult, binomial


@dataclass(frozen=True)
class PositionBiasResult:
    question: str          # "all" pools every question
    chose_a: int
    chose_b: int
    test: BinomialResult   # proportion choosing Image A, vs 0.5


def position_bias(frame: pd.DataFrame, question: str | None = None,
                  confidence: float = 0.95) -> PositionBiasResult:
    rows = frame[frame["is_comparison"]]
    if question is not None:
        rows = rows[rows["question_id"].eq(question)]
    a = int(rows["response_side"].eq("A").sum())
    b = int(rows["response_side"].eq("B").sum())
    if a + b == 0:
        raise NotComputable("no answers chose a side")
    return PositionBiasResult(question or "all", a, b, binomial(a, a + b, confidence))

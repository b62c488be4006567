"""Per-class breakdown: the judgment-level proportion within each explained class.

Classes are few and uneven in size, so these are descriptive (no multiplicity
correction); the forest plot shows where an effect is concentrated.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.errors import NotComputable
from analysis.proportion import BinomialResult, binomial


@dataclass(frozen=True)
class ClassResult:
    question: str
    class_name: str
    same: int
    test: BinomialResult


def per_class(frame: pd.DataFrame, question: str, confidence: float = 0.95) -> tuple[ClassResult, ...]:
    if "class_name" not in frame.columns:
        raise NotComputable("the export has no class_name column")
    rows = frame[frame["is_comparison"] & frame["question_id"].eq(question)]
    out = []
    for name, group in rows.groupby("class_name", sort=True):
        k = int(group["response_method"].eq("gradcam").sum())
        n = k + int(group["response_method"].eq("hirescam").sum())
        if n:
            out.append(ClassResult(question, str(name), int(group["response_method"].eq("same").sum()),
                                   binomial(k, n, confidence)))
    if not out:
        raise NotComputable("no class has a decided answer")
    return tuple(out)

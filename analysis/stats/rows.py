"""The answers a statistic works on, selected in one place.

`analysis.inputs.load` marks each answer of the prepared frame: `is_comparison` (a
Grad-CAM/HiResCAM pair, not an attention check) and `chose_gradcam` (1, 0, or missing for
"about the same"). Every statistic starts from one of these two selections.
"""
from __future__ import annotations

import pandas as pd


def comparison_rows(frame: pd.DataFrame, question: str) -> pd.DataFrame:
    """Comparison answers to one question (ties included; attention checks left out)."""
    return frame[frame["is_comparison"] & frame["question_id"].eq(question)]


def decided(frame: pd.DataFrame, question: str) -> pd.DataFrame:
    """Comparison answers to one question that chose a method (no ties)."""
    rows = comparison_rows(frame, question)
    return rows[rows["chose_gradcam"].notna()]

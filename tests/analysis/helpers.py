"""Helpers for the analysis tests: small exports built row by row, in the documented format."""
from __future__ import annotations

import pandas as pd

from analysis.inputs.load import prepare
from analysis.synthetic import COLUMNS


def answer(participant, pair, question, chose, gradcam_side="A", completed=True, rt=2000,
           cls="circle"):
    """One comparison answer; chose is 'gradcam', 'hirescam' or 'same'."""
    left, right = ("gradcam", "hirescam") if gradcam_side == "A" else ("hirescam", "gradcam")
    side = "same" if chose == "same" else ("A" if chose == left else "B")
    return {"study_id": "t", "participant_id": participant, "source": "lab",
            "participant_completed": "true" if completed else "false", "trial_index": "0",
            "pair_id": pair, "image_id": f"img_{pair}", "class_name": cls, "question_id": question,
            "response_side": side, "response_method": chose, "left_method": left,
            "right_method": right, "is_attention_check": "false", "attention_correct": "",
            "rt_ms": str(rt), "answered_at": "2026-01-01T00:00:00.000Z"}


def attention(participant, correct, question="larger", completed=True, rt=2000):
    return {"study_id": "t", "participant_id": participant, "source": "lab",
            "participant_completed": "true" if completed else "false", "trial_index": "0",
            "pair_id": "att", "image_id": "img_att", "class_name": "circle",
            "question_id": question, "response_side": "A", "response_method": "",
            "left_method": "", "right_method": "", "is_attention_check": "true",
            "attention_correct": "true" if correct else "false", "rt_ms": str(rt),
            "answered_at": "2026-01-01T00:00:00.000Z"}


def frame_of(rows) -> pd.DataFrame:
    """The analysis frame for rows, as read_responses would produce it."""
    return prepare(pd.DataFrame(rows, columns=COLUMNS), "test").frame


def write_csv(rows, path) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("# camstudy-responses format_version=1\n")
        pd.DataFrame(rows, columns=COLUMNS).to_csv(fh, index=False)
    return str(path)


def counts_rows(per_participant: dict[str, tuple[int, int, int]], question="larger"):
    """Each participant answers `question` on pairs pair0.. with (gradcam, hirescam, same) picks."""
    rows = []
    for pid, (g, h, s) in per_participant.items():
        picks = ["gradcam"] * g + ["hirescam"] * h + ["same"] * s
        for i, chose in enumerate(picks):
            rows.append(answer(pid, f"pair{i}", question, chose,
                               gradcam_side="A" if i % 2 == 0 else "B"))
    return rows

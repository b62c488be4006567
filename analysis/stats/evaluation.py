"""The objective evaluation (evaluation.json from `camstudy evaluate`) beside the human verdicts.

For every pair people judged, the majority answer to "larger" and "focused" is set
beside what the maps measure: which method has the larger area above 0.5, the
lower entropy, the map closer to the model's ground truth (flatten heads only) and
the higher IoU with the object mask (where masks exist). Agreement is counted over
pairs with both a human majority and an objective difference.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.errors import AnalysisError, NotComputable
from analysis.inputs.load import Manifest, read_document
from analysis.stats.clustered import pair_votes

EVALUATION_VERSIONS = (1,)
METHODS = ("gradcam", "hirescam")
# criterion -> (row key, the method "chosen" is the one with the higher value?, words)
CRITERIA = {
    "area": ("area_above_half", True, "larger area above 0.5"),
    "entropy": ("entropy", False, "lower entropy (more concentrated)"),
    "faithfulness": ("faithfulness_distance", False, "closer to the model's ground truth"),
    "iou": ("iou_0.5", True, "higher IoU with the object mask at 0.5"),
}
# question -> the criterion its wording corresponds to
NATURAL = {"larger": "area", "focused": "entropy"}


@dataclass(frozen=True)
class Evaluation:
    """evaluation.json, reduced to what the report needs."""

    path: Path
    study_id: str
    rows: pd.DataFrame       # one row per pair_id and method
    summary: dict            # the tables: faithfulness, localization, shape, paired


@dataclass(frozen=True)
class MethodSummary:
    method: str
    faithfulness_distance: float | None
    iou_at_half: float | None
    pointing_accuracy: float | None
    area_above_half: float | None
    entropy: float | None
    blobs: float | None
    roundness: float | None


@dataclass(frozen=True)
class CriterionAgreement:
    question: str
    criterion: str
    description: str
    natural: bool            # the criterion the question's wording asks about
    agreed: int              # pairs whose human majority picked the objectively chosen map
    disagreed: int
    # agreed / (agreed + disagreed), description only: pair majorities share the same
    # participants, so they are not independent and no binomial p-value is given.
    share: float | None


@dataclass(frozen=True)
class PairComparison:
    pair_id: str
    class_name: str
    human: dict              # question -> "gradcam" | "hirescam" | "tie"
    objective: dict          # criterion -> "gradcam" | "hirescam" | "equal" | None


@dataclass(frozen=True)
class EvaluationComparison:
    source: str
    faithfulness_defined: bool
    faithfulness_reason: str | None
    localization_defined: bool
    localization_reason: str | None
    methods: tuple[MethodSummary, ...]
    agreement: tuple[CriterionAgreement, ...]
    pairs: tuple[PairComparison, ...]


def evaluation_path(manifest: Manifest) -> Path:
    return manifest.path.parent / "evaluation.json"


def read_evaluation(path: str | Path) -> Evaluation:
    path = Path(path)
    data = read_document(path, "camstudy-evaluation", EVALUATION_VERSIONS, "evaluation")
    rows = pd.DataFrame(data.get("rows") or [])
    if rows.empty or not {"pair_id", "method"} <= set(rows.columns):
        raise AnalysisError(f"{path}: 'rows' must list pair_id and method for every evaluated map")
    summary = {k: data.get(k) or {} for k in ("faithfulness", "localization", "shape", "paired")}
    return Evaluation(path=path, study_id=str(data.get("study_id")), rows=rows, summary=summary)


def objective_choice(rows: pd.DataFrame) -> pd.DataFrame:
    """pair_id -> criterion -> the method the criterion picks ("equal" on a tie, None if unknown)."""
    out = {}
    by_pair = rows[rows["method"].isin(METHODS)].set_index(["pair_id", "method"])
    for pair_id in rows["pair_id"].unique():
        picks = {}
        for criterion, (key, higher, _) in CRITERIA.items():
            try:
                g, h = by_pair.loc[(pair_id, "gradcam"), key], by_pair.loc[(pair_id, "hirescam"), key]
            except KeyError:
                picks[criterion] = None
                continue
            if g is None or h is None or pd.isna(g) or pd.isna(h):
                picks[criterion] = None
            elif math.isclose(float(g), float(h), rel_tol=1e-9, abs_tol=1e-9):
                picks[criterion] = "equal"
            else:
                picks[criterion] = "gradcam" if (float(g) > float(h)) == higher else "hirescam"
        out[pair_id] = picks
    return pd.DataFrame.from_dict(out, orient="index", columns=list(CRITERIA))


def method_summaries(summary: dict) -> tuple[MethodSummary, ...]:
    faith = summary["faithfulness"].get("per_method") or {}
    loc = summary["localization"].get("per_method") or {}
    shape = summary["shape"].get("per_method") or {}
    out = []
    for m in METHODS:
        f, lo, s = faith.get(m, {}), loc.get(m, {}), shape.get(m, {})
        out.append(MethodSummary(m, f.get("mean_distance"), (lo.get("mean_iou") or {}).get("0.5"),
                                 lo.get("pointing_accuracy"), s.get("mean_area_above_half"),
                                 s.get("mean_entropy"), s.get("mean_blobs"), s.get("mean_roundness")))
    return tuple(out)


def compare(frame: pd.DataFrame, evaluation: Evaluation, questions, confidence: float = 0.95) -> EvaluationComparison:
    """Human majority per pair beside the objective picks, and how often they coincide."""
    picks = objective_choice(evaluation.rows)
    votes = {q: pair_votes(frame, q)["verdict"] for q in questions}
    judged = sorted(set().union(*[set(v.index) for v in votes.values()]) & set(picks.index)) if votes else []
    if not judged:
        raise NotComputable(f"{evaluation.path}: none of the judged pairs is in the evaluation")
    agreement = []
    for q in questions:
        verdict = votes[q].reindex(judged)
        for criterion, (_, _, words) in CRITERIA.items():
            objective = picks.loc[judged, criterion]
            usable = verdict.isin(METHODS) & objective.isin(METHODS)
            n = int(usable.sum())
            agreed = int((verdict[usable] == objective[usable]).sum())
            agreement.append(CriterionAgreement(q, criterion, words, NATURAL.get(q) == criterion, agreed,
                                                n - agreed, agreed / n if n else None))
    info = evaluation.rows.drop_duplicates("pair_id").set_index("pair_id")
    pairs = tuple(PairComparison(
        pair_id=p, class_name=str(info.loc[p, "class_name"]) if "class_name" in info else "",
        human={q: (str(votes[q].get(p)) if p in votes[q].index else None) for q in questions},
        objective={c: picks.loc[p, c] for c in CRITERIA}) for p in judged)
    f, loc = evaluation.summary["faithfulness"], evaluation.summary["localization"]
    return EvaluationComparison(
        source=str(evaluation.path), faithfulness_defined=bool(f.get("defined")),
        faithfulness_reason=f.get("reason"), localization_defined=bool(loc.get("defined")),
        localization_reason=loc.get("reason"), methods=method_summaries(evaluation.summary),
        agreement=tuple(agreement), pairs=pairs)


def pair_table(comparison: EvaluationComparison) -> pd.DataFrame:
    rows = [{"pair_id": p.pair_id, "class_name": p.class_name,
             **{f"human_{q}": v for q, v in p.human.items()},
             **{f"objective_{c}": v for c, v in p.objective.items()}} for p in comparison.pairs]
    return pd.DataFrame(rows)

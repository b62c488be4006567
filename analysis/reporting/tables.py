"""CSV tables and results.json next to the report.

Participant ids are replaced by salted hashes in everything written here.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analysis.inputs.exclusions import hash_participant
from analysis.reporting.analyse import StudyResults
from analysis.stats import clustered, evaluation
from analysis.stats.results import Skipped, to_jsonable
from analysis.stats.rows import decided

# 2: the decision (decisions), clustered estimates; judgment-level tests are gone.
RESULTS_FORMAT_VERSION = 2


def write_results_json(study: StudyResults, path: Path) -> None:
    doc = {"format_version": RESULTS_FORMAT_VERSION, "kind": "camstudy-results",
           **to_jsonable(study)}
    path.write_text(json.dumps(doc, indent=1, allow_nan=False), encoding="utf-8")


def question_rows(study: StudyResults) -> pd.DataFrame:
    rows = []
    decisions = {d.question: d for d in study.decisions}
    for q in study.questions:
        row = {"question": q.question, "primary": q.primary}
        if not isinstance(q.proportion, Skipped):
            c = q.proportion.counts
            row.update(gradcam=c.gradcam, hirescam=c.hirescam, same=c.same)
            if not isinstance(q.proportion.ties, Skipped):
                t = q.proportion.ties
                row.update(tie_rate=t.rate, tie_low=t.interval.low, tie_high=t.interval.high)
        if not isinstance(q.model, Skipped):
            m = q.model
            row.update(model=m.model, probability=m.probability,
                       probability_low=m.probability_interval.low,
                       probability_high=m.probability_interval.high, odds_ratio=m.odds_ratio,
                       or_low=m.interval.low, or_high=m.interval.high, df=m.df, model_p=m.pvalue,
                       participant_sd=m.participant_sd, pair_sd=m.pair_sd)
        if q.question in decisions:
            row.update(holm_p=decisions[q.question].adjusted, reject=decisions[q.question].reject)
        if not isinstance(q.position, Skipped):
            row.update(position_a=q.position.probability_a, position_p=q.position.pvalue)
        rows.append(row)
    return pd.DataFrame(rows)


def class_rows(study: StudyResults) -> pd.DataFrame:
    rows = [{"question": q.question, "class_name": c.class_name, "gradcam": c.gradcam,
             "decided": c.decided, "same": c.same, "pairs": c.pairs, "probability": c.probability,
             "low": c.interval.low if c.interval else None,
             "high": c.interval.high if c.interval else None}
            for q in study.questions if not isinstance(q.classes, Skipped) for c in q.classes]
    return pd.DataFrame(rows)


def participant_rows(study: StudyResults, frame: pd.DataFrame) -> pd.DataFrame:
    salt = study.study_id or ""
    parts = []
    for q in study.questions:
        rows = decided(frame, q.question)
        g = rows.groupby("participant_id")["chose_gradcam"].agg(["size", "mean"]).reset_index()
        g.insert(0, "question", q.question)
        parts.append(g.rename(columns={"size": "decided", "mean": "proportion_gradcam"}))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["question", "participant_id", "decided", "proportion_gradcam"])
    out["participant"] = out.pop("participant_id").map(lambda p: hash_participant(p, salt))
    return out


def pair_rows(study: StudyResults, frame: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for q in study.questions:
        votes = clustered.pair_votes(frame, q.question).reset_index()
        votes.insert(0, "question", q.question)
        parts.append(votes)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def write_tables(study: StudyResults, frame: pd.DataFrame, out: Path) -> list[Path]:
    tables = {
        "flow.csv": pd.DataFrame([vars(s) for s in study.flow.steps]),
        "questions.csv": question_rows(study),
        "holm.csv": pd.DataFrame([{k: v for k, v in vars(d).items() if k != "interval"}
                                  for d in study.decisions]),
        "classes.csv": class_rows(study),
        "participants.csv": participant_rows(study, frame),
        "pair_votes.csv": pair_rows(study, frame),
    }
    if study.evaluation is not None and not isinstance(study.evaluation, Skipped):
        tables["evaluation_pairs.csv"] = evaluation.pair_table(study.evaluation)
    from analysis.reporting.sentences import methods_paragraph
    (out / "methods.txt").write_text(methods_paragraph(study) + "\n", encoding="utf-8")
    written = [out / "methods.txt"]
    for name, table in tables.items():
        path = out / name
        table.to_csv(path, index=False)
        written.append(path)
    return written

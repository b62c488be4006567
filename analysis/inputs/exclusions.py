"""Pre-registered exclusions, applied in a fixed order, with a flow table.

The rules run one after the other (unverified crowd identity, completion,
attention checks, response time, server-side time) so each participant is counted
under the first rule that excludes them, as in a CONSORT flow diagram.

Two rules guard against who and what got in (docs/analysis.md): a crowd participant
(MTurk, Prolific) whose ids the platform has not confirmed (export column
``verification`` not "verified") is left out of the primary analysis; and a participant
whose median server-side time per trial (``server_ms``, measured by the survey server,
not the browser) is under ``min_median_server_ms`` (default 1000, the number
webapp/admin/timing.py flags in the admin area) is excluded: their answers arrived
faster than a person can look at two images and answer.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from analysis.settings import AnalysisConfig


CROWD_SOURCES = ("mturk", "prolific")


@dataclass(frozen=True)
class FlowStep:
    label: str
    participants: int
    answers: int


@dataclass(frozen=True)
class Flow:
    """Who was analysed: started, finished, excluded by each rule, analysed."""

    steps: tuple[FlowStep, ...]
    notes: tuple[str, ...]

    @property
    def analysed(self) -> int:
        return self.steps[-1].participants


def hash_participant(participant_id: str, salt: str) -> str:
    """Pseudonymous id for anything written: stable within a study, not the worker id."""
    digest = hashlib.sha256(f"{salt}\x00{participant_id}".encode()).hexdigest()
    return "p_" + digest[:12]


def participant_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per participant: completed, failed attention checks, median response time."""
    grouped = frame.groupby("participant_id", sort=False)
    summary = pd.DataFrame(index=grouped.size().index)
    summary["answers"] = grouped.size()
    if "participant_completed" in frame:
        summary["completed"] = grouped["participant_completed"].agg(
            lambda s: bool(s.fillna(False).astype(bool).any()))
    if "attention_correct" in frame:
        summary["failed_checks"] = failed_check_trials(frame).reindex(
            summary.index, fill_value=0).astype(int)
    if "rt_ms" in frame:
        summary["median_rt_ms"] = grouped["rt_ms"].median()
    if "server_ms" in frame:
        server_ms = pd.to_numeric(frame["server_ms"].replace("", float("nan")), errors="coerce")
        summary["median_server_ms"] = server_ms.groupby(frame["participant_id"]).median()
    return summary


def unconfirmed_rows(frame: pd.DataFrame) -> pd.Series:
    """Answers from crowd sessions the platform has not confirmed (verification column)."""
    crowd = frame["source"].astype(str).isin(CROWD_SOURCES)
    return crowd & frame["verification"].astype(str).ne("verified")


def failed_check_trials(frame: pd.DataFrame) -> pd.Series:
    """Per participant: attention-check trials with at least one wrong answer.

    Counted per trial, not per answer: a check trial asks every question, so counting
    answers gave an attentive person as many chances to slip as there are questions
    (with zero failures allowed, 7 of 30 attentive simulated people were excluded).
    """
    checks = frame[frame["is_attention_check"]]
    wrong = checks["attention_correct"].eq(False)
    per_trial = wrong.groupby([checks["participant_id"], checks["pair_id"]]).any()
    return per_trial.groupby(level=0).sum()


def apply_exclusions(frame: pd.DataFrame, config: AnalysisConfig) -> tuple[pd.DataFrame, Flow]:
    notes: list[str] = []
    steps = [FlowStep("Started (answered at least one trial)", frame["participant_id"].nunique(), len(frame))]
    # Identity first, by answer rather than by id: a forged session under a real worker's
    # WorkerId exports under the same participant_id and must not take the real one down.
    crowd = "source" in frame and frame["source"].astype(str).isin(CROWD_SOURCES).any()
    if "verification" in frame and crowd:
        unconfirmed = unconfirmed_rows(frame)
        if not config.include_unverified:
            before = frame["participant_id"].nunique()
            frame = frame[~unconfirmed]
            steps.append(FlowStep("Excluded: crowd identity not confirmed by MTurk/Prolific (verification is "
                                  "not \"verified\"; only confirmed sessions' answers are kept)",
                                  before - frame["participant_id"].nunique(), int(unconfirmed.sum())))
    elif crowd:
        notes.append("Identity rule not applied: the export has no verification column")
    summary = participant_summary(frame)
    keep = pd.Series(True, index=summary.index)
    if "completed" in summary:
        done = summary["completed"]
        steps.append(FlowStep("Finished (reached the completion page)", int(done.sum()),
                              int(summary.loc[done, "answers"].sum())))

    def step(label: str, excluded: pd.Series) -> None:
        newly = excluded & keep
        keep.loc[newly] = False
        answers = int(summary.loc[newly, "answers"].sum())
        steps.append(FlowStep(label, int(newly.sum()), answers))

    if config.require_completion:
        if "completed" in summary:
            step("Excluded: did not finish", ~summary["completed"])
        else:
            notes.append("Completion rule not applied: the export has no participant_completed")
    max_failed = config.max_failed_attention_checks
    if "failed_checks" in summary:
        step(f"Excluded: failed more than {max_failed} attention-check trial(s)",
             summary["failed_checks"] > max_failed)
    else:
        notes.append("Attention-check rule not applied: the export has no attention_correct")
    if config.min_median_rt_ms > 0:
        if "median_rt_ms" in summary:
            too_fast = summary["median_rt_ms"] < config.min_median_rt_ms
            step(f"Excluded: median response time under {config.min_median_rt_ms:g} ms",
                 too_fast.fillna(False))
        else:
            notes.append("Response-time rule not applied: the export has no rt_ms")
    server_min = config.min_median_server_ms
    if server_min > 0:
        if "median_server_ms" in summary:
            step(f"Excluded: median server-side time per trial under {server_min:g} ms "
                 "(answers arrived faster than a person can look at the images)",
                 (summary["median_server_ms"] < server_min).fillna(False))
        else:
            notes.append("Server-side time rule not applied: the export has no server_ms")
    kept_ids = set(keep[keep].index)
    analysed = frame[frame["participant_id"].isin(kept_ids)]
    steps.append(FlowStep("Analysed", len(kept_ids), len(analysed)))
    return analysed, Flow(steps=tuple(steps), notes=tuple(notes))

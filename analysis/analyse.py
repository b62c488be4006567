"""Run every analysis on an export and collect the results.

Each result is computed on its own: a part that cannot be computed becomes a
`Skipped` with the reason, and the rest of the report still appears.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from statsmodels.stats.multitest import multipletests

from analysis import agreement, breakdown, clustered, evaluation, models, objective, position, proportion
from analysis.config import AnalysisConfig
from analysis.errors import AnalysisError, NotComputable
from analysis.exclusions import Flow, apply_exclusions
from analysis.load import Manifest, Responses
from analysis.results import Skipped


@dataclass(frozen=True)
class QuestionResults:
    question: str
    primary: bool
    proportion: object      # ProportionResult | Skipped
    participant: object     # ParticipantTestResult | Skipped
    pairs: object           # PairMajorityResult | Skipped
    model: object           # ModelResult | Skipped
    position: object        # PositionBiasResult | Skipped
    agreement: object       # AgreementResult | Skipped
    objective: object       # ObjectiveAgreementResult | Skipped
    area: object            # AreaRegressionResult | Skipped
    classes: object         # tuple[ClassResult, ...] | Skipped


@dataclass(frozen=True)
class HolmAdjustment:
    test: str           # "binomial", "participant" or "model"
    question: str
    pvalue: float
    adjusted: float
    reject: bool


@dataclass(frozen=True)
class StudyResults:
    source: str
    study_id: str | None
    config: AnalysisConfig
    flow: Flow
    questions: tuple[QuestionResults, ...]
    position_all: object    # PositionBiasResult | Skipped
    holm: tuple[HolmAdjustment, ...]
    notes: tuple[str, ...]
    evaluation: object = None  # EvaluationComparison | Skipped; None without evaluation.json


def attempt(what: str, func, *args, **kwargs):
    """The result, or a Skipped saying why it could not be computed."""
    try:
        return func(*args, **kwargs)
    except NotComputable as exc:
        return Skipped(what, str(exc))
    except Exception as exc:  # noqa: BLE001 - one failing part must not sink the report
        return Skipped(what, f"failed unexpectedly ({type(exc).__name__}: {exc})")


def questions_to_analyse(frame: pd.DataFrame, config: AnalysisConfig) -> list[str]:
    seen = list(dict.fromkeys(frame.loc[frame["is_comparison"], "question_id"]))
    return list(config.primary_questions) + [q for q in seen if q not in config.primary_questions]


def match_manifest(responses: Responses, manifest: Manifest | None, notes: list[str]):
    """The manifest's pair table if it describes this export, else None (with a note)."""
    if manifest is None:
        notes.append("No manifest given: objective metrics and example stimuli are skipped")
        return None
    if responses.study_id and manifest.study_id != responses.study_id:
        notes.append(f"{manifest.path}: study_id '{manifest.study_id}' does not match the "
                     f"export's '{responses.study_id}'; the manifest is not used")
        return None
    exported = set(responses.frame.loc[responses.frame["is_comparison"], "pair_id"])
    unknown = exported - set(manifest.pairs["pair_id"])
    if unknown == exported:
        notes.append(f"{manifest.path}: none of the export's {len(exported)} pairs is in the "
                     "manifest; the manifest is not used")
        return None
    if unknown:
        notes.append(f"{manifest.path}: {len(unknown)} of the export's {len(exported)} pairs are "
                     f"not in the manifest (e.g. {sorted(unknown)[0]}); objective metrics use the rest")
    return manifest.pairs


def analyse_question(frame, question, config, pairs) -> QuestionResults:
    conf = config.confidence
    counts = proportion.count_answers(frame, question)
    no_answers = counts.total == 0

    def run(what, func, *args, **kwargs):
        if no_answers:
            return Skipped(what, f"question '{question}' has no answers in the analysed data")
        return attempt(what, func, *args, **kwargs)

    return QuestionResults(
        question=question, primary=question in config.primary_questions,
        proportion=run("proportion", proportion.proportion_test, counts, conf),
        participant=run("participant-level test", clustered.participant_test, frame, question),
        pairs=run("pair-level test", clustered.pair_majority_test, frame, question, conf),
        model=run("regression model", models.fit_model, frame, question, conf,
                  use_mixed=config.mixed_model),
        position=run("position bias", position.position_bias, frame, question, conf),
        agreement=run("agreement", agreement.agreement, frame, question, seed=config.seed),
        objective=(Skipped("objective vs subjective", "no usable manifest") if pairs is None else
                   run("objective vs subjective", objective.objective_agreement, frame, pairs,
                       question, conf)),
        area=(Skipped("area regression", "no usable manifest") if pairs is None else
              run("area regression", objective.area_regression, frame, pairs, question,
                  confidence=conf)),
        classes=run("per-class breakdown", breakdown.per_class, frame, question, conf),
    )


def binomial_of(result: QuestionResults, ties: str):
    """The judgment-level test the config makes primary: non-ties, or ties split."""
    if isinstance(result.proportion, Skipped):
        return result.proportion
    return result.proportion.ties_split if ties == "split" else result.proportion.test


def pvalue_of(result: QuestionResults, test: str, ties: str = "exclude") -> float | None:
    part = {"binomial": binomial_of(result, ties), "participant": result.participant,
            "model": result.model}[test]
    if isinstance(part, Skipped):
        return None
    if test == "binomial":
        return part.pvalue
    return part.wilcoxon_pvalue if test == "participant" else part.pvalue


def holm(results: list[QuestionResults], alpha: float,
         ties: str = "exclude") -> tuple[HolmAdjustment, ...]:
    """Holm across the primary questions, separately for each family of tests."""
    out = []
    for test in ("binomial", "participant", "model"):
        found = [(r.question, pvalue_of(r, test, ties)) for r in results if r.primary]
        found = [(q, p) for q, p in found if p is not None]
        if not found:
            continue
        reject, adjusted, _, _ = multipletests([p for _, p in found], alpha=alpha, method="holm")
        out += [HolmAdjustment(test, q, p, float(a), bool(r))
                for (q, p), a, r in zip(found, adjusted, reject)]
    return tuple(out)


def objective_evaluation(frame, manifest: Manifest | None, pairs, questions, config: AnalysisConfig):
    """The evaluation.json next to the manifest beside the human verdicts, if there is one."""
    if manifest is None or pairs is None:
        return None
    path = evaluation.evaluation_path(manifest)
    if not path.is_file():
        return None
    try:
        found = evaluation.read_evaluation(path)
    except AnalysisError as exc:
        return Skipped("objective evaluation", str(exc))
    if found.study_id != manifest.study_id:
        return Skipped("objective evaluation", f"{path}: study_id '{found.study_id}' does not match "
                                               f"the manifest's '{manifest.study_id}'")
    return attempt("objective evaluation", evaluation.compare, frame, found, questions, config.confidence)


def analyse(responses: Responses, manifest: Manifest | None,
            config: AnalysisConfig) -> tuple[StudyResults, pd.DataFrame]:
    """All results, and the analysed frame (after exclusions) for figures and tables."""
    notes = list(responses.notes)
    frame, flow = apply_exclusions(responses.frame, config)
    notes += flow.notes
    if frame.empty:
        notes.append("Every participant was excluded; nothing is left to analyse")
    pairs = match_manifest(responses, manifest, notes)
    results = [analyse_question(frame, q, config, pairs)
               for q in questions_to_analyse(frame, config)]
    for r in results:
        if r.primary and isinstance(r.proportion, Skipped) and "no answers" in r.proportion.reason:
            notes.append(f"Primary question '{r.question}' has no answers; it is left out of "
                         "the Holm correction")
    study = StudyResults(
        source=responses.source, study_id=responses.study_id, config=config, flow=flow,
        questions=tuple(results),
        position_all=attempt("position bias", position.position_bias, frame,
                             confidence=config.confidence),
        holm=holm(results, config.alpha, config.ties), notes=tuple(notes),
        evaluation=objective_evaluation(frame, manifest, pairs, [r.question for r in results], config))
    return study, frame

"""Run every analysis on an export and collect the results.

Each result is computed on its own: a part that cannot be computed becomes a
`Skipped` with the reason, and the rest of the report still appears.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.errors import AnalysisError, NotComputable
from analysis.inputs.exclusions import Flow, apply_exclusions
from analysis.inputs.load import Manifest, Responses
from analysis.settings import AnalysisConfig
from analysis.stats import (agreement, breakdown, clustered, evaluation, objective, order, ordinal,
                            position, proportion, regression)
from analysis.stats.multiplicity import holm
from analysis.stats.results import Interval, Skipped
from analysis.stats.sensitivity import exclusion_sensitivity


@dataclass(frozen=True)
class Sensitivity:
    """The primary model's estimate under another reasonable analysis (no p-value)."""

    label: str
    result: object          # ModelResult | Skipped


@dataclass(frozen=True)
class QuestionResults:
    question: str
    primary: bool
    proportion: object      # ProportionResult | Skipped (counts, tie rate)
    participant: object     # ParticipantSummary | Skipped
    pairs: object           # PairSummary | Skipped
    model: object           # ModelResult | Skipped: the pre-registered model
    sensitivity: tuple      # Sensitivity, ...
    position: object        # PositionBiasResult | Skipped
    agreement: object       # AgreementResult | Skipped
    reliability: object     # Reliability | Skipped
    objective: object       # ObjectiveAgreementResult | Skipped
    area: object            # AreaRegressionResult | Skipped
    classes: object         # tuple[ClassResult, ...] | Skipped
    order: object = None    # OrderResult | Skipped
    times: object = None    # ResponseTimes | Skipped


@dataclass(frozen=True)
class Decision:
    """The pre-registered decision for one primary question: the model's intercept test,
    Holm-adjusted across the primary questions."""

    question: str
    model: str              # "mixed" or "gee"
    estimand: str
    probability: float
    interval: Interval
    pvalue: float
    adjusted: float
    reject: bool
    equivalence: object = None   # regression.Equivalence (TOST, not multiplicity-corrected)


@dataclass(frozen=True)
class StudyResults:
    source: str
    study_id: str | None
    config: AnalysisConfig
    flow: Flow
    questions: tuple[QuestionResults, ...]
    position_all: object    # PositionBiasResult | Skipped
    decisions: tuple[Decision, ...]
    notes: tuple[str, ...]
    evaluation: object = None  # EvaluationComparison | Skipped; None without evaluation.json
    exclusion_sensitivity: tuple = ()  # ExclusionSensitivity, ...
    preregistration: object = None     # PreregistrationCheck; None without --preregistration


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


def analyse_question(frame, question, config, pairs, sensitivity: bool = True) -> QuestionResults:
    conf = config.confidence
    counts = proportion.count_answers(frame, question)
    no_answers = counts.total == 0
    primary = question in config.primary_questions

    def run(what, func, *args, **kwargs):
        if no_answers:
            return Skipped(what, f"question '{question}' has no answers in the analysed data")
        return attempt(what, func, *args, **kwargs)

    model = run("regression model", regression.fit_model, frame, question, conf,
                use_mixed=config.mixed_model, ties=config.ties)
    return QuestionResults(
        question=question, primary=primary,
        proportion=run("counts", proportion.proportion_test, frame, counts, conf),
        participant=run("participant summary", clustered.participant_summary, frame, question),
        pairs=run("pair summary", clustered.pair_summary, frame, question),
        model=model,
        sensitivity=sensitivity_models(frame, question, config) if primary and sensitivity
        and not no_answers and not isinstance(model, Skipped) else (),
        position=run("position bias", position.position_bias, frame, question, conf),
        agreement=run("agreement", agreement.agreement, frame, question),
        reliability=(Skipped("reliability", "no model") if isinstance(model, Skipped) else
                     attempt("reliability", agreement.reliability, model, model.observations)),
        objective=(Skipped("objective vs subjective", "no usable manifest") if pairs is None else
                   run("objective vs subjective", objective.objective_agreement, frame, pairs,
                       question, conf)),
        area=(Skipped("area regression", "no usable manifest") if pairs is None else
              run("area regression", objective.area_regression, frame, pairs, question,
                  confidence=conf)),
        classes=run("per-class breakdown", breakdown.per_class, frame, question, conf),
        order=run("trial order", order.trial_order, frame, question, conf),
        times=run("response times", order.response_times, frame, question),
    )


def sensitivity_models(frame, question, config) -> tuple[Sensitivity, ...]:
    """The primary estimate with a random side slope, with the other tie handling, and
    with the population-averaged GEE."""
    conf = config.confidence
    other = "split" if config.ties == "exclude" else "exclude"
    out = []
    if config.mixed_model:
        out.append(Sensitivity("random side slope per participant", attempt(
            "random side slope", regression.mixed_model, frame, question, conf, ties=config.ties,
            side_slope=True)))
        out.append(Sensitivity(f"ties {'split as half a choice' if other == 'split' else 'set aside'}",
                               attempt("other tie handling", regression.mixed_model, frame, question,
                                       conf, ties=other)))
    out.append(Sensitivity("population-averaged (two-way clustered GEE)", attempt(
        "GEE", regression.gee_model, frame, question, conf, ties=config.ties)))
    out.append(Sensitivity("ties as an outcome (ordinal)", attempt(
        "ordinal model", ordinal.ordinal_model, frame, question, conf)))
    return tuple(out)


def decide(results: list[QuestionResults], alpha: float,
           margin: float | None = None) -> tuple[Decision, ...]:
    """Holm across the primary questions on the pre-registered model's p-values."""
    found = [r for r in results if r.primary and not isinstance(r.model, Skipped)]
    if not found:
        return ()
    reject, adjusted = holm([r.model.pvalue for r in found], alpha)
    return tuple(Decision(r.question, r.model.model, r.model.estimand, r.model.probability,
                          r.model.probability_interval, r.model.pvalue, float(a), bool(j),
                          None if margin is None else regression.equivalence(r.model, margin, alpha))
                 for r, a, j in zip(found, adjusted, reject))


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


def analyse(responses: Responses, manifest: Manifest | None, config: AnalysisConfig,
            sensitivity: bool = True) -> tuple[StudyResults, pd.DataFrame]:
    """All results, and the analysed frame (after exclusions) for figures and tables.

    sensitivity=False skips the sensitivity models (they print no p-value; the
    calibration tests leave them out to save time)."""
    notes = list(responses.notes)
    frame, flow = apply_exclusions(responses.frame, config)
    notes += flow.notes
    if frame.empty:
        notes.append("Every participant was excluded; nothing is left to analyse")
    pairs = match_manifest(responses, manifest, notes)
    results = [analyse_question(frame, q, config, pairs, sensitivity)
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
        decisions=decide(results, config.alpha, config.equivalence_margin), notes=tuple(notes),
        evaluation=objective_evaluation(frame, manifest, pairs, [r.question for r in results], config),
        exclusion_sensitivity=(exclusion_sensitivity(responses.frame, config)
                               if sensitivity else ()))
    return study, frame

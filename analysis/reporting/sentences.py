"""The numbers as sentences, shared by the HTML report and the terminal summary.

Numbers are written as a person writes them: whole counts without decimals
("5 of 5"), percentages to whole percent, thousands separated.
"""
from __future__ import annotations

from analysis.inputs.load import SimulatedShare
from analysis.reporting.analyse import Decision, QuestionResults, StudyResults
from analysis.stats.results import Skipped
from camstudy import __version__ as camstudy_version

VERB = {"larger": "judged larger", "focused": "judged more focused"}
MODEL_NAMES = {"mixed": "mixed-effects logistic regression (random intercepts for participant and pair)",
               "gee": "logistic GEE with two-way cluster-robust errors (the mixed model could not run)",
               "ordinal": "ordinal model"}


def fmt_p(p: float | None) -> str:
    if p is None:
        return "p not available"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def count(n) -> str:
    """A whole count as a person writes it: 5, 1,240 (never 5.0)."""
    return f"{int(round(float(n))):,}"


def interval_pct(interval) -> str:
    return f"{pct(interval.level)} CI {pct(interval.low)}–{pct(interval.high)}"


def verb(question: str) -> str:
    return VERB.get(question, f"chosen for '{question}'")


def decision_line(d: Decision, alpha: float) -> str:
    """E.g. 'larger: Grad-CAM 69% (95% CI 58–77%), Holm-adjusted p = 0.003: significant.'"""
    verdict = (f"Grad-CAM was {verb(d.question)} more often than HiResCAM" if d.reject and d.probability > 0.5
               else f"HiResCAM was {verb(d.question)} more often than Grad-CAM" if d.reject
               else "no significant difference between the methods")
    return (f"'{d.question}': Grad-CAM chosen with probability {pct(d.probability)} "
            f"({interval_pct(d.interval)}); Holm-adjusted {fmt_p(d.adjusted)} at alpha {alpha:g}: "
            f"{verdict}.")


def equivalence_line(d: Decision) -> str:
    e = d.equivalence
    if e is None:
        return ""
    points = f"{100 * e.margin:.0f} percentage points"
    verdict = ("the methods are equivalent within this margin" if e.equivalent
               else "equivalence within this margin is not shown")
    return (f"Equivalence (two one-sided t-tests, margin 50% ± {points}): "
            f"{pct(e.interval.level)} CI {pct(e.interval.low)}–{pct(e.interval.high)}, "
            f"{fmt_p(e.pvalue)}: {verdict}.")


def estimand_line(d: Decision, q: QuestionResults) -> str:
    m = q.model
    return (f"Estimand: {d.estimand}. Model: {MODEL_NAMES.get(m.model, m.model)}, "
            f"{count(m.observations)} answers of {m.participants} participants on {m.pairs} pairs, "
            f"t reference with {m.df:.1f} df.")


def tie_line(q: QuestionResults) -> str:
    if isinstance(q.proportion, Skipped):
        return ""
    ties = q.proportion.ties
    if isinstance(ties, Skipped):
        return f"'About the same': {ties.reason}."
    return (f"'About the same' was answered in {pct(ties.rate)} of answers "
            f"({interval_pct(ties.interval)}, clustered by participant and pair).")


def counts_line(q: QuestionResults) -> str:
    """Judgment-level counts: description, no test."""
    if isinstance(q.proportion, Skipped):
        return f"Question '{q.question}': not computed ({q.proportion.reason})."
    c = q.proportion.counts
    return (f"Counts (description; one participant gives many answers): {count(c.gradcam)} "
            f"Grad-CAM, {count(c.hirescam)} HiResCAM, {count(c.same)} about the same.")


def participants_line(q: QuestionResults) -> str:
    if isinstance(q.participant, Skipped):
        return ""
    r = q.participant
    return (f"{count(r.above_half)} of {count(r.participants)} participants chose Grad-CAM more "
            f"often than not ({count(r.below_half)} less often, {count(r.at_half)} exactly half).")


def decision_sentence(study: StudyResults) -> str:
    cfg = study.config
    if not study.decisions:
        return "The pre-registered model could not be computed for any primary question."
    return (f"Pre-registered decision: the regression model's test that Grad-CAM and HiResCAM are "
            f"chosen equally often, Holm-corrected across {len(study.decisions)} primary "
            f"question(s) at alpha {cfg.alpha:g}.")


def summary_lines(study: StudyResults) -> list[str]:
    flow = study.flow.steps
    lines = [f"{count(flow[-1].participants)} of {count(flow[0].participants)} participants "
             f"analysed ({count(flow[-1].answers)} answers).", decision_sentence(study)]
    by_question = {q.question: q for q in study.questions}
    for d in study.decisions:
        lines.append("  " + decision_line(d, study.config.alpha))
        tie = tie_line(by_question[d.question])
        if tie:
            lines.append("    " + tie)
    for q in study.questions:
        if q.primary and isinstance(q.model, Skipped):
            lines.append(f"  '{q.question}': not decided ({q.model.reason}).")
    return lines


def methods_paragraph(study: StudyResults) -> str:
    """A methods paragraph ready to paste, from what actually ran."""
    import statsmodels

    cfg, flow = study.config, study.flow.steps
    excluded = "; ".join(f"{s.label.removeprefix('Excluded: ')}: {count(s.participants)}"
                         for s in flow if s.label.startswith("Excluded"))
    models_run = {q.model.model for q in study.questions if q.primary and not isinstance(q.model, Skipped)}
    ties = ("with 'about the same' answers set aside" if cfg.ties == "exclude"
            else "with each 'about the same' answer counted as half a choice of each method")
    if models_run == {"gee"}:
        model = ("a logistic regression of choosing Grad-CAM over HiResCAM on the side Grad-CAM "
                 "was shown on (coded ±½), with standard errors cluster-robust for participant and "
                 "pair (two-way) and Student's t on min(participants, pairs) − 1 degrees of freedom")
    else:
        model = ("a mixed-effects logistic regression of choosing Grad-CAM over HiResCAM with random "
                 "intercepts for participant and pair and a fixed effect for the side Grad-CAM was "
                 "shown on (coded ±½), fitted with statsmodels' BinomialBayesMixedGLM; standard "
                 "errors came from the Laplace curvature of the joint posterior at the fit and tests "
                 "used Student's t with Satterthwaite-type degrees of freedom from the variance "
                 "components")
    questions = ", ".join(f"'{q}'" for q in cfg.primary_questions)
    return (
        f"We analysed {count(flow[-1].participants)} of {count(flow[0].participants)} participants "
        f"({count(flow[-1].answers)} answers) after the pre-registered exclusions"
        f"{f' ({excluded})' if excluded else ''}; a participant failed an attention-check trial "
        f"when any of its answers was wrong, and at most {cfg.max_failed_attention_checks} failed "
        f"trial(s) were allowed. For each primary question ({questions}) we fitted {model}, {ties}. "
        f"We report the estimated probability that a typical participant chooses Grad-CAM on a "
        f"typical pair, with {pct(cfg.confidence)} confidence intervals, and tested it against 50% "
        f"with Holm's correction across the {len(cfg.primary_questions)} primary questions at "
        f"α = {cfg.alpha:g}; equivalence within ±{100 * cfg.equivalence_margin:.0f} percentage "
        f"points was tested with two one-sided tests. Position bias was tested with the side term "
        f"of a logistic regression with standard errors clustered by participant and pair. "
        f"Sensitivity analyses refitted the model with a random side slope per participant, with "
        f"the other handling of ties, as a population-averaged GEE, as an ordinal model with ties "
        f"as the middle category, and under alternative exclusion rules. Analyses used camstudy "
        f"{camstudy_version} and statsmodels {statsmodels.__version__}.")


def simulated_sentence(share: SimulatedShare) -> str:
    """One line for the terminal and the report's notes (results.json keeps it too)."""
    if share.excluded:
        return (f"{share.simulated} simulated participant(s) (ids starting with 'sim-', from camstudy "
                f"simulate) were left out (--exclude-simulated); {share.participants - share.simulated} "
                "participant(s) remain")
    return (f"SIMULATED DATA: {share.simulated} of {share.participants} participants are simulated "
            "(ids starting with 'sim-', from camstudy simulate), not people, and are included in "
            "these results; --exclude-simulated leaves them out")

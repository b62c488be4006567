"""The numbers as sentences, shared by the HTML report and the terminal summary."""
from __future__ import annotations

from analysis.analyse import QuestionResults, StudyResults, binomial_of
from analysis.results import Skipped

VERB = {"larger": "judged larger", "focused": "judged more focused"}
TEST_NAMES = {"binomial": "exact binomial test on judgments",
              "participant": "Wilcoxon signed-rank test on participants' proportions",
              "model": "regression model (mixed model, or GEE where it ran instead)"}


def fmt_p(p: float | None) -> str:
    if p is None:
        return "p not available"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def verb(question: str) -> str:
    return VERB.get(question, f"chosen for '{question}'")


def headline(q: QuestionResults, ties: str = "exclude") -> str:
    """E.g. 'Grad-CAM was judged larger in 71% of 1,240 judgments (95% CI 68–74%), p < 0.001.'"""
    test = binomial_of(q, ties)
    if isinstance(test, Skipped):
        return f"Question '{q.question}': not computed ({test.reason})."
    c = q.proportion.counts
    level = f"{100 * test.wilson.level:.0f}%"
    tie_note = (f"ties split evenly" if ties == "split" else
                f"{c.same:,} 'about the same' answers set aside") if c.same else "no ties"
    return (f"Grad-CAM was {verb(q.question)} in {pct(test.proportion)} of {test.n:,} judgments "
            f"({level} CI {pct(test.wilson.low)}–{pct(test.wilson.high)}), {fmt_p(test.pvalue)} "
            f"({tie_note}).")


def clustered_sentence(q: QuestionResults) -> str:
    parts = []
    if not isinstance(q.participant, Skipped):
        r = q.participant
        parts.append(f"{r.above_half} of {r.participants} participants chose Grad-CAM more often "
                     f"than not (median {pct(r.median_proportion)}; Wilcoxon "
                     f"{fmt_p(r.wilcoxon_pvalue)}, sign test {fmt_p(r.sign_pvalue)})")
    if not isinstance(q.model, Skipped):
        m = q.model
        name = "mixed model" if m.model == "mixed" else "GEE"
        parts.append(f"{name} odds ratio {m.odds_ratio:.2f} ({pct(m.interval.level)} CI "
                     f"{m.interval.low:.2f}–{m.interval.high:.2f}), {fmt_p(m.pvalue)}")
    return ("; ".join(parts) + ".") if parts else ""


def decision_sentence(study: StudyResults) -> str:
    cfg = study.config
    rows = [h for h in study.holm if h.test == cfg.primary_test]
    if not rows:
        return (f"The pre-registered test ({TEST_NAMES[cfg.primary_test]}) could not be "
                "computed for any primary question.")
    verdicts = ", ".join(
        f"'{h.question}' {'significant' if h.reject else 'not significant'} "
        f"(Holm-adjusted {fmt_p(h.adjusted)})" for h in rows)
    return (f"Pre-registered test: {TEST_NAMES[cfg.primary_test]}, Holm-corrected across "
            f"{len(rows)} primary question(s) at alpha {cfg.alpha:g}: {verdicts}.")


def summary_lines(study: StudyResults) -> list[str]:
    flow = study.flow.steps
    lines = [f"{flow[-1].participants} of {flow[0].participants} participants analysed "
             f"({flow[-1].answers:,} answers)."]
    for q in study.questions:
        lines.append(headline(q, study.config.ties))
        extra = clustered_sentence(q)
        if extra:
            lines.append("  " + extra)
    lines.append(decision_sentence(study))
    return lines

"""The report's figures: what each one shows, gathered from the study's results.

The drawing itself is analysis.reporting.plots (matplotlib, plain data in, PNG out); a
figure that cannot be drawn is left out with the reason, which the report shows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.inputs.load import Manifest
from analysis.reporting import plots, sentences
from analysis.reporting.analyse import StudyResults
from analysis.stats import clustered, objective
from analysis.stats.results import Skipped
from analysis.stats.rows import decided


def draw_figures(study: StudyResults, frame: pd.DataFrame,
                 manifest: Manifest | None) -> tuple[dict[str, bytes], dict[str, str]]:
    """PNG bytes per figure, and for each figure not drawn, why not."""
    out, why = {}, {}

    def draw(key, func):
        try:
            result = func()
        except Exception as exc:  # noqa: BLE001 - a figure must not sink the report
            why[key] = f"{type(exc).__name__}: {exc}"
            return
        if isinstance(result, str):
            why[key] = result
        elif result is not None:
            out[key] = result

    draw("estimates", lambda: _estimates(study))
    draw("participants", lambda: _participants(study, frame))
    draw("forest", lambda: _forest(study))
    draw("area", lambda: _area(study, frame, manifest))
    draw("examples", lambda: _examples(study, frame, manifest))
    return out, why


def _estimates(study):
    """The clustered estimates: the model's probability per question, and the tie rates."""
    rows = []
    for q in study.questions:
        if not isinstance(q.model, Skipped):
            i = q.model.probability_interval
            rows.append((f"{q.question}: Grad-CAM chosen", q.model.probability, i.low, i.high))
    for q in study.questions:
        if not isinstance(q.proportion, Skipped) and not isinstance(q.proportion.ties, Skipped):
            t = q.proportion.ties
            rows.append((f"{q.question}: about the same", t.rate, t.interval.low, t.interval.high))
    return plots.estimates_figure(rows) if rows else "no clustered estimate could be computed"


def _participants(study, frame):
    from statsmodels.stats.proportion import proportion_confint

    tables = {}
    for q in study.questions:
        if isinstance(q.participant, Skipped):
            continue
        g = decided(frame, q.question).groupby("participant_id")["chose_gradcam"].agg(
            ["sum", "count"])
        low, high = proportion_confint(g["sum"], g["count"], method="wilson")
        tables[q.question] = pd.DataFrame({"proportion": g["sum"] / g["count"], "low": low,
                                           "high": high})
    return plots.participants_figure(tables) if tables else "no participant-level results"


def _forest(study):
    by_q = {q.question: list(q.classes) for q in study.questions
            if not isinstance(q.classes, Skipped)}
    return plots.forest_figure(by_q) if by_q else "no per-class results"


def _area(study, frame, manifest):
    q = next((q for q in study.questions if q.question == "larger"), None)
    if q is None or isinstance(q.area, Skipped):
        return "the area regression for 'larger' was not computed"
    rows = objective.with_metrics(frame, manifest.pairs, "larger")
    rows = rows[rows["gradcam_area_above_half"].notna() & rows["hirescam_area_above_half"].notna()]
    x, _ = objective.log_area_ratio(rows, 1e-4)
    # Intercept from the data so the curve passes through the observed mean choice
    # at the mean ratio; the slope is the fitted one.
    y = rows["chose_gradcam"]
    intercept = np.log(y.mean() / (1 - y.mean())) - q.area.slope * x.mean()
    return plots.area_figure(x, y, q.area.slope, intercept)


def _examples(study, frame, manifest):
    if manifest is None:
        return "no manifest given"
    q = study.questions[0]
    if isinstance(q.pairs, Skipped):
        return "no pair-level verdicts"
    votes = clustered.pair_votes(frame, q.question)
    votes["margin"] = (votes["gradcam"] - votes["hirescam"]).abs() / votes["decided"]
    chosen = pd.concat([votes[votes["verdict"] == v].nlargest(2, "margin")
                        for v in ("gradcam", "hirescam")])
    info = manifest.pairs.set_index("pair_id")
    examples = []
    for pair_id, v in chosen.iterrows():
        if pair_id in info.index:
            winner = "Grad-CAM" if v["verdict"] == "gradcam" else "HiResCAM"
            examples.append({**info.loc[pair_id].to_dict(),
                             "verdict": f"{winner} {sentences.verb(q.question).replace('judged ', '')}"
                                        f" ({sentences.count(max(v['gradcam'], v['hirescam']))} of "
                                        f"{sentences.count(v['decided'])})"})
    result = plots.examples_figure(examples, manifest.path.parent)
    return result if result is not None else "the stimulus images are not next to the manifest"

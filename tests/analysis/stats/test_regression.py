"""The regression models: their numbers equal statsmodels' and scipy's own, and a model
that cannot be estimated is reported with the reason, never as NaN or a huge number."""
from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM
from statsmodels.tools.numdiff import approx_fprime

from analysis.cli import report_main
from analysis.errors import NotComputable
from analysis.inputs.load import prepare, read_manifest
from analysis.stats import objective, regression
from analysis.stats.rows import decided
from analysis.synthetic import SimulationSpec, made_up_manifest, simulate_responses
from tests.analysis.helpers import answer, frame_of, write_csv

Z = stats.norm.ppf(0.975)

# Every answer with Grad-CAM shown as Image A chose Grad-CAM (pairs p0, p2): the answers
# of tests/analysis/test_analysis_evaluation.py that made statsmodels' GEE warn
# "invalid value encountered in sqrt" and then report an odds ratio of 131,011.
SEPARATED = {"p0": "gradcam", "p1": "gradcam", "p2": "gradcam", "p3": "hirescam"}
# 4 participants x 3 pairs whose two-way cluster-robust variance comes out negative.
FEW_CLUSTERS = [[0, 1, 1], [0, 0, 0], [0, 0, 0], [0, 1, 0]]


def separated_rows():
    return [answer(u, p, "larger", chose, gradcam_side="A" if i % 2 == 0 else "B")
            for u in ("u1", "u2", "u3") for i, (p, chose) in enumerate(SEPARATED.items())]


def few_cluster_rows():
    return [answer(f"u{i}", f"p{j}", "larger", "gradcam" if picked else "hirescam",
                   gradcam_side="A" if j % 2 == 0 else "B")
            for i, row in enumerate(FEW_CLUSTERS) for j, picked in enumerate(row)]


@pytest.fixture(scope="module")
def study():
    spec = SimulationSpec(participants=20, pairs=8, p={"larger": 0.65}, participant_sd=0.8,
                          pair_sd=0.5, tie_rate=0.1, attention_checks=0, seed=11)
    return prepare(simulate_responses(spec), "simulated").frame


def log_se(result: regression.ModelResult, q: float = Z) -> float:
    return (np.log(result.interval.high) - np.log(result.interval.low)) / (2 * q)


def test_mixed_model_error_is_the_fixed_effect_block_of_the_inverse_log_posterior_hessian(study):
    # statsmodels' own log-posterior, differentiated numerically over the fixed and random
    # effects at the variational fit, variance components held there.
    result = regression.mixed_model(study, "larger")
    rows = decided(study, "larger")
    endog, exog = regression._design(rows)
    z = np.hstack([pd.get_dummies(pd.Categorical(rows[c], pd.unique(rows[c]))).to_numpy(float)
                   for c in ("participant_id", "pair_id")])
    ident = np.repeat([0, 1], [rows["participant_id"].nunique(), rows["pair_id"].nunique()])
    model = BinomialBayesMixedGLM(endog, exog, z, ident)
    fit = model.fit_vb(rng=0)
    params = np.concatenate([fit.fe_mean, fit.vcp_mean, fit.vc_mean])
    hessian = approx_fprime(params, lambda x: -model.logposterior_grad(x), centered=True)
    keep = np.r_[0:2, 4:len(params)]          # drop the two variance parameters
    cov = np.linalg.inv(hessian[np.ix_(keep, keep)])
    se = np.sqrt(np.diag(cov)[:2])
    assert np.log(result.odds_ratio) == pytest.approx(fit.fe_mean[0], abs=1e-4)
    assert log_se(result, stats.t.ppf(0.975, result.df)) == pytest.approx(se[0], rel=1e-4)
    assert result.pvalue == pytest.approx(2 * stats.t.sf(abs(fit.fe_mean[0]) / se[0], result.df),
                                          rel=1e-3)
    # The t reference's df come from the fitted variance components (regression.crossed_df).
    sds = np.exp(fit.vcp_mean)
    assert result.participant_sd == pytest.approx(sds[0]) and result.pair_sd == pytest.approx(sds[1])
    assert 7 <= result.df <= 19 + 7


def test_mixed_model_gives_the_same_numbers_on_every_run(study):
    assert regression.mixed_model(study, "larger") == regression.mixed_model(study, "larger")


def test_gee_fallback_equals_statsmodels_two_way_cluster_robust_logistic_regression(study):
    result = regression.gee_model(study, "larger")
    rows = decided(study, "larger")
    endog, exog = regression._design(rows)
    groups = np.column_stack([pd.factorize(rows[c])[0] for c in ("participant_id", "pair_id")])
    fit = sm.GLM(endog, exog, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    low, high = np.exp(fit.conf_int(alpha=0.05)[0])
    assert result.odds_ratio == pytest.approx(np.exp(fit.params[0]), rel=1e-10)
    assert (result.interval.low, result.interval.high) == pytest.approx((low, high), rel=1e-10)
    assert result.pvalue == pytest.approx(fit.pvalues[0], rel=1e-10)
    # Student's t on min(20 participants, 8 pairs) - 1 = 7 degrees of freedom.
    t = np.log(result.odds_ratio) / log_se(result, stats.t.ppf(0.975, 7))
    assert result.pvalue == pytest.approx(2 * stats.t.sf(abs(t), 7), rel=1e-10)
    assert result.df == 7 and "7.0 df" in result.interval.method


def test_area_regression_equals_statsmodels_bias_reduced_gee_clustered_by_pair(tmp_path):
    spec = SimulationSpec(participants=12, pairs=10, p={"larger": 0.6}, area_slope=0.8,
                          attention_checks=0, seed=4)
    (tmp_path / "m.json").write_text(json.dumps(made_up_manifest(spec, np.random.default_rng(4))))
    pairs = read_manifest(tmp_path / "m.json").pairs
    frame = prepare(simulate_responses(spec, json.loads((tmp_path / "m.json").read_text())),
                    "simulated").frame
    result = objective.area_regression(frame, pairs, "larger")
    rows = objective.with_metrics(frame, pairs, "larger")
    x, _ = objective.log_area_ratio(rows, 1e-4)
    fit = sm.GEE(rows["chose_gradcam"].to_numpy(float), sm.add_constant(x.to_numpy()),
                 groups=rows["pair_id"].to_numpy(), family=sm.families.Binomial(),
                 cov_struct=sm.cov_struct.Independence()).fit(cov_type="bias_reduced")
    assert result.slope == pytest.approx(fit.params[1], rel=1e-8)
    assert result.pvalue == pytest.approx(2 * stats.t.sf(abs(fit.params[1] / fit.bse[1]), 9),
                                          rel=1e-8)
    high = np.exp((fit.params[1] + stats.t.ppf(0.975, 9) * fit.bse[1]) * np.log(2))
    assert result.interval.high == pytest.approx(high, rel=1e-8)


@pytest.mark.parametrize("use_mixed", [True, False])
def test_perfect_separation_is_a_reason_not_an_odds_ratio(use_mixed):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NotComputable, match="with Grad-CAM shown as Image A chose Grad-CAM "
                                                r"\(perfect separation\)"):
            regression.fit_model(frame_of(separated_rows()), "larger", use_mixed=use_mixed)


def test_too_few_clusters_for_the_two_way_variance_is_a_reason_and_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NotComputable, match="4 participants, 3 pairs are too few"):
            regression.gee_model(frame_of(few_cluster_rows()), "larger")


def test_grad_cam_always_on_one_side_is_a_reason():
    rows = [answer(u, p, "larger", chose, gradcam_side="A")
            for u, p, chose in (("u1", "p0", "gradcam"), ("u1", "p1", "hirescam"),
                                ("u2", "p0", "hirescam"), ("u2", "p1", "gradcam"))]
    with pytest.raises(NotComputable, match="shown as Image A in every decided answer"):
        regression.fit_model(frame_of(rows), "larger")


def test_area_ratio_that_separates_the_choices_is_a_reason():
    pairs = pd.DataFrame({"pair_id": [f"p{j}" for j in range(4)],
                          "gradcam_area_above_half": [0.4, 0.3, 0.1, 0.05],
                          "hirescam_area_above_half": [0.1, 0.1, 0.2, 0.2]})
    rows = [answer(u, f"p{j}", "larger", "gradcam" if j < 2 else "hirescam",
                   gradcam_side="A" if j % 2 == 0 else "B") for u in ("u1", "u2") for j in range(4)]
    with pytest.raises(NotComputable, match="separates the choices perfectly"):
        objective.area_regression(frame_of(rows), pairs, "larger")


@pytest.mark.parametrize("rows, reason", [
    (separated_rows(), "perfect separation"),
    (few_cluster_rows(), "are too few to estimate it"),
])
def test_report_says_why_the_model_is_missing_instead_of_printing_numbers(tmp_path, rows, reason):
    out = tmp_path / "report"
    assert report_main(["--responses", write_csv(rows, tmp_path / "responses.csv"),
                        "--out", str(out), "--no-mixed", "--no-figures"]) == 0
    results = json.loads((out / "results.json").read_text())
    model = next(q for q in results["questions"] if q["question"] == "larger")["model"]
    assert model["type"] == "Skipped" and reason in model["reason"]
    page = (out / "report.html").read_text()
    assert reason in page
    assert not re.search(r"\bnan\b", page, re.IGNORECASE)
    assert "GEE (fallback)" not in page


def test_ties_split_reaches_the_decision(study):
    # ties = "split" (docs/analysis.md): every tie enters the decision model as half a choice.
    from analysis.inputs.load import Responses
    from analysis.reporting.analyse import analyse
    from analysis.settings import AnalysisConfig

    excluded = regression.fit_model(study, "larger", ties="exclude")
    split = regression.fit_model(study, "larger", ties="split")
    ties = int(study["is_tie"].sum())
    assert ties > 0 and split.observations == excluded.observations + ties
    # Ties pull the estimate towards 1/2 and are reported as such.
    assert abs(split.probability - 0.5) < abs(excluded.probability - 0.5)
    assert "half a choice" in split.estimand and "ties set aside" in excluded.estimand
    result, _ = analyse(Responses(study, "t"), None,
                        AnalysisConfig(ties="split", primary_questions=("larger",)),
                        sensitivity=False)
    assert result.decisions[0].pvalue == pytest.approx(split.pvalue)
    assert "half a choice" in result.decisions[0].estimand

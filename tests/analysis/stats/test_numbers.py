"""The numbers: each equals what statsmodels or scipy compute on the same data, and a
small example checked by hand."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from scipy.special import expit
from statsmodels.stats.multitest import multipletests

from analysis.inputs.load import Responses, prepare
from analysis.reporting.analyse import analyse, decide
from analysis.settings import AnalysisConfig
from analysis.stats import agreement, clustered, ordinal, position, proportion, regression
from analysis.stats.rows import decided
from analysis.synthetic import SimulationSpec, simulate_responses
from tests.analysis.helpers import counts_rows, frame_of

TOL = 1e-12


@pytest.fixture(scope="module")
def study():
    spec = SimulationSpec(participants=16, pairs=10, p={"larger": 0.6}, participant_sd=0.8,
                          pair_sd=0.5, tie_rate=0.15, side_sd=0.5, allocation="webapp",
                          attention_checks=0, seed=21)
    return prepare(simulate_responses(spec), "simulated").frame


def two_way_glm(endog, exog, rows):
    groups = np.column_stack([pd.factorize(rows[c])[0] for c in ("participant_id", "pair_id")])
    return sm.GLM(endog, exog, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)


@pytest.mark.parametrize("k,n", [(0, 1), (7, 10), (50, 100), (731, 1240), (1240, 1240), (3, 97)])
def test_binomial_matches_scipy_on_the_same_counts(k, n):
    result = proportion.binomial(k, n)
    reference = stats.binomtest(k, n, 0.5)
    assert result.pvalue == pytest.approx(reference.pvalue, abs=TOL)
    for method, ours in (("wilson", result.wilson), ("exact", result.exact)):
        ci = reference.proportion_ci(0.95, method=method)
        assert ours.low == pytest.approx(ci.low, abs=TOL)
        assert ours.high == pytest.approx(ci.high, abs=TOL)


def test_counts_are_description_seven_gradcam_three_hirescam_two_ties():
    frame = frame_of(counts_rows({"a": (4, 1, 1), "b": (3, 2, 1)}))
    result = proportion.proportion_test(frame, proportion.count_answers(frame, "larger"))
    assert (result.counts.gradcam, result.counts.hirescam, result.counts.same) == (7, 3, 2)
    assert result.share == pytest.approx(0.7)
    assert result.share_ties_split == pytest.approx(8 / 12)
    assert not hasattr(result, "test")  # no judgment-level p-value any more


def test_tie_rate_interval_is_the_two_way_clustered_intercept(study):
    rows = study[study["is_comparison"]]
    ref = two_way_glm(rows["is_tie"].to_numpy(float), np.ones((len(rows), 1)), rows)
    ties = proportion.tie_rate(study, "larger")
    low, high = ref.conf_int()[0]
    assert ties.rate == pytest.approx(expit(ref.params[0]), abs=1e-10)
    assert (ties.interval.low, ties.interval.high) == pytest.approx((expit(low), expit(high)), abs=1e-10)


def test_position_test_is_the_side_term_of_a_two_way_clustered_regression(study):
    rows = decided(study, "larger")
    side = np.where(rows["gradcam_on_a"], 0.5, -0.5)
    ref = two_way_glm(rows["chose_gradcam"].to_numpy(float), np.column_stack([np.ones(len(rows)), side]), rows)
    result = position.position_bias(study, "larger")
    assert result.pvalue == pytest.approx(ref.pvalues[1], rel=1e-8)
    assert result.probability_a == pytest.approx(expit(ref.params[1] / 2), abs=1e-10)
    assert result.chose_a == int(rows["response_side"].eq("A").sum())


def test_participant_and_pair_summaries_count_people_and_pairs_without_p_values():
    rows = counts_rows({"a": (3, 0, 0), "b": (2, 1, 0), "c": (1, 1, 0), "d": (0, 2, 0)})
    frame = frame_of(rows)
    people = clustered.participant_summary(frame, "larger")
    assert (people.above_half, people.below_half, people.at_half) == (2, 1, 1)
    pairs = clustered.pair_summary(frame, "larger")
    # pair0: 3 Grad-CAM votes vs 1; pair1: 2 vs 2; pair2: 1 vs 1.
    assert (pairs.gradcam_pairs, pairs.hirescam_pairs, pairs.tied_pairs) == (1, 0, 2)
    assert not any("pvalue" in f for f in vars(people)) and not any("pvalue" in f for f in vars(pairs))


def test_holm_decision_equals_statsmodels_multipletests(study):
    other = study.assign(question_id="focused")
    frame = pd.concat([study, other], ignore_index=True)
    responses = Responses(frame, "test")
    result, _ = analyse(responses, None, AnalysisConfig(mixed_model=False), sensitivity=False)
    expected = multipletests([d.pvalue for d in result.decisions], method="holm")[1]
    assert [d.adjusted for d in result.decisions] == pytest.approx(list(expected), abs=TOL)
    assert decide(list(result.questions), 0.05, 0.05) == result.decisions
    assert [d.pvalue for d in result.decisions] == [q.model.pvalue for q in result.questions]


def test_krippendorff_alpha_is_one_for_perfect_agreement_and_uses_every_rating():
    perfect = frame_of(counts_rows({p: (3, 3, 0) for p in "abcd"}))
    result = agreement.agreement(perfect, "larger")
    assert result.krippendorff_alpha == pytest.approx(1.0)
    assert result.ratings == 24


def test_reliability_from_variance_components_by_hand(study):
    m = regression.mixed_model(study, "larger")
    r = agreement.reliability(m, m.observations)
    v, u = m.pair_sd ** 2, m.participant_sd ** 2
    k = m.observations / m.pairs
    assert r.pair_icc == pytest.approx(v / (v + u + math.pi ** 2 / 3))
    assert r.pair_mean_reliability == pytest.approx(k * r.pair_icc / (1 + (k - 1) * r.pair_icc))


def test_crossed_df_is_the_smaller_factors_df_when_its_variance_dominates():
    assert regression.crossed_df(1.0, 0.0, 0.0, 40, 10, 400) == pytest.approx(39)
    assert regression.crossed_df(0.0, 1.0, 0.0, 40, 10, 400) == pytest.approx(9)
    both = regression.crossed_df(0.8, 0.5, 4.0, 40, 10, 400)
    assert 9 < both < 49


def test_ordinal_model_estimate_is_minus_the_centre_of_the_threshold_band(study):
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    rows = study[study["is_comparison"]]
    y = rows["response_method"].map(ordinal.LEVELS).to_numpy()
    side = np.where(rows["gradcam_on_a"], 0.5, -0.5)
    fit = OrderedModel(y, side[:, None], distr="logit").fit(method="bfgs", disp=False)
    t1, t2 = fit.params[1], fit.params[1] + np.exp(fit.params[2])
    result = ordinal.ordinal_model(study, "larger")
    assert result.probability == pytest.approx(expit(-(t1 + t2) / 2), abs=1e-4)
    assert result.probability_interval.low < result.probability < result.probability_interval.high


def test_tost_is_the_larger_one_sided_p_and_matches_the_90_percent_interval(study):
    m = regression.mixed_model(study, "larger")
    eq = regression.equivalence(m, 0.2, 0.05)
    beta, lo, hi = np.log(m.odds_ratio), np.log(0.3 / 0.7), np.log(0.7 / 0.3)
    p1 = stats.t.sf((beta - lo) / m.se, m.df)
    p2 = stats.t.cdf((beta - hi) / m.se, m.df)
    assert eq.pvalue == pytest.approx(max(p1, p2))
    inside = 0.3 < eq.interval.low and eq.interval.high < 0.7
    assert eq.equivalent == inside and eq.interval.level == pytest.approx(0.9)


def test_holm_equals_statsmodels_on_ties_boundaries_and_many_questions(monkeypatch):
    """analysis.stats.multiplicity.holm (statsmodels' Holm runs gc.collect() on each call)
    gives statsmodels' decisions and adjusted p-values exactly."""
    import gc

    from analysis.stats.multiplicity import holm

    monkeypatch.setattr(gc, "collect", lambda *args: 0)  # 600 reference calls, not 600 collections

    rng = np.random.default_rng(7)
    cases = [rng.uniform(0, 0.2, size=rng.integers(1, 8)) for _ in range(300)]
    cases += [np.array([0.025, 0.05]), np.array([0.01, 0.01, 0.01]), np.array([1.0, 0.0, 0.5]),
              np.array([0.0125, 0.0125, 0.04, 0.9]), np.array([0.05])]
    for p in cases:
        for alpha in (0.05, 0.01):
            reject, adjusted = holm(p, alpha)
            want_reject, want_adjusted, _, _ = multipletests(p, alpha=alpha, method="holm")
            assert reject.tolist() == want_reject.tolist(), (p, alpha)
            assert adjusted.tolist() == want_adjusted.tolist(), (p, alpha)

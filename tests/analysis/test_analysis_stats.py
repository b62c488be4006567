"""The numbers: every p-value and interval equals scipy's own on the same counts,
and a small example checked by hand."""
from __future__ import annotations

import math

import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analysis import agreement, clustered, proportion
from analysis.analyse import analyse, holm
from analysis.config import AnalysisConfig
from analysis.load import Responses
from analysis_helpers import counts_rows, frame_of

TOL = 1e-12


@pytest.mark.parametrize("k,n", [(0, 1), (7, 10), (50, 100), (731, 1240), (1240, 1240), (3, 97)])
def test_binomial_matches_scipy_on_the_same_counts(k, n):
    result = proportion.binomial(k, n)
    reference = stats.binomtest(k, n, 0.5)
    assert result.pvalue == pytest.approx(reference.pvalue, abs=TOL)
    for method, ours in (("wilson", result.wilson), ("exact", result.exact)):
        ci = reference.proportion_ci(0.95, method=method)
        assert ours.low == pytest.approx(ci.low, abs=TOL)
        assert ours.high == pytest.approx(ci.high, abs=TOL)


def test_hand_checked_example_of_seven_gradcam_three_hirescam_two_ties():
    counts = proportion.Counts("larger", gradcam=7, hirescam=3, same=2)
    result = proportion.proportion_test(counts)
    # P(X >= 7 | n=10, 1/2) = (120 + 45 + 10 + 1) / 1024; two-sided doubles it.
    assert result.test.pvalue == pytest.approx(2 * 176 / 1024, abs=TOL)
    # Wilson's formula with z = 1.959964 written out.
    z, p, n = stats.norm.ppf(0.975), 0.7, 10
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert result.test.wilson.low == pytest.approx(centre - half, abs=1e-12)
    assert result.test.wilson.high == pytest.approx(centre + half, abs=1e-12)
    # Clopper-Pearson through the beta distribution.
    assert result.test.exact.low == pytest.approx(stats.beta.ppf(0.025, 7, 4), abs=1e-12)
    assert result.test.exact.high == pytest.approx(stats.beta.ppf(0.975, 8, 3), abs=1e-12)
    assert result.cohens_h == pytest.approx(2 * math.asin(math.sqrt(0.7)) - math.pi / 2, abs=TOL)
    # Ties split: one tie to each side -> 8 of 12; P(X >= 8 | 12) = 794 / 4096.
    assert (result.ties_split.k, result.ties_split.n) == (8, 12)
    assert result.ties_split.pvalue == pytest.approx(2 * 794 / 4096, abs=TOL)


def test_odd_number_of_ties_leaves_one_out_of_the_split():
    assert proportion.ties_split(proportion.Counts("q", 5, 4, 3)) == (6, 11)


def test_participant_level_tests_match_hand_computation():
    # Proportions 0.8, 0.4, 0.7, 0.9 -> differences ranked 3, 1, 2, 4; W- = 1.
    frame = frame_of(counts_rows({"a": (8, 2, 0), "b": (4, 6, 0), "c": (7, 3, 0), "d": (9, 1, 0)}))
    result = clustered.participant_test(frame, "larger")
    assert result.wilcoxon_statistic == 1
    assert result.wilcoxon_pvalue == pytest.approx(2 * 2 / 16, abs=TOL)  # {} and {1} of 2^4
    assert (result.above_half, result.below_half) == (3, 1)
    assert result.sign_pvalue == pytest.approx(stats.binomtest(3, 4).pvalue, abs=TOL)
    assert result.median_proportion == pytest.approx(0.75)


def test_pair_majority_vote_counts_pairs_not_judgments():
    # pair0: 3 Grad-CAM votes; pair1: 2 vs 1; pair2: 1 vs 1 (tie) -> 2 of 2 decided pairs.
    rows = counts_rows({"a": (3, 0, 0), "b": (2, 1, 0), "c": (1, 1, 0)})
    votes = clustered.pair_votes(frame_of(rows), "larger")
    result = clustered.pair_majority_test(frame_of(rows), "larger")
    assert votes.loc["pair0", "verdict"] == "gradcam"
    assert (result.gradcam_pairs, result.hirescam_pairs, result.tied_pairs) == (2, 0, 1)
    assert result.test.pvalue == pytest.approx(stats.binomtest(2, 2).pvalue, abs=TOL)


def test_holm_equals_statsmodels_multipletests():
    rows = counts_rows({f"p{i}": (7 + i % 3, 3, 1) for i in range(6)})
    rows += counts_rows({f"p{i}": (5, 5 + i % 2, 0) for i in range(6)}, question="focused")
    responses = Responses(frame_of(rows), "test")
    study, _ = analyse(responses, None, AnalysisConfig(mixed_model=False))
    binom = [h for h in study.holm if h.test == "binomial"]
    expected = multipletests([h.pvalue for h in binom], method="holm")[1]
    assert [h.adjusted for h in binom] == pytest.approx(list(expected), abs=TOL)
    assert holm(list(study.questions), 0.05) == study.holm


def test_krippendorff_and_fleiss_agree_with_perfect_and_chance_agreement():
    perfect = frame_of(counts_rows({p: (3, 3, 0) for p in "abcd"}))
    result = agreement.agreement(perfect, "larger")
    assert result.krippendorff_alpha == pytest.approx(1.0)
    assert result.fleiss_kappa == pytest.approx(1.0)
    assert result.fleiss_raters_per_pair == 4

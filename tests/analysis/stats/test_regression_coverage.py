"""Coverage and level of the regression models, by simulation (slow: 2-4 minutes).

Studies are drawn from the model the mixed model assumes: 40 participants each judge
the same 10 pairs (Grad-CAM shown as Image A in 5 of them), log-odds of choosing
Grad-CAM = beta + u[participant] + v[pair], u ~ N(0, 0.8^2), v ~ N(0, 0.5^2), no
ties. Each study is analysed with the project's own code. Bounds are 0.95 (or 0.05)
+- 3 binomial standard errors of a rate estimated from that many studies.

Measured with these seeds, with the normal reference the mixed model used before it took
Student's t with Satterthwaite-type df (regression.crossed_df; the test passes with both):
mixed model 96.0% coverage and 4.0% rejections at
beta = 0, 96.0% coverage at beta = 0.4; the two-way GEE fallback 97.0%, 3.0% and
96.0%; a GEE clustered by participant alone 87.7% coverage and 12.3% rejections.
These seeds are kind to the mixed model: over 2,150 studies (these and others) it
covered 93.4%, within the bounds here but below 95% (docs/analysis.md says why).
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import integrate, stats
from scipy.special import expit, logit

from analysis.inputs.load import prepare
from analysis.stats import regression
from analysis.stats.rows import decided
from analysis.synthetic import SimulationSpec, simulate_responses

try:  # many tiny matrix products: extra BLAS threads only slow them down on a shared machine
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

pytestmark = pytest.mark.slow

PARTICIPANT_SD, PAIR_SD = 0.8, 0.5
STUDIES = {0.0: 300, 0.4: 150}   # true log-odds -> simulated studies


def simulated_frame(log_odds: float, seed: int):
    spec = SimulationSpec(participants=40, pairs=10, p={"larger": float(expit(log_odds))},
                          participant_sd=PARTICIPANT_SD, pair_sd=PAIR_SD, tie_rate=0.0,
                          attention_checks=0, seed=seed)
    return prepare(simulate_responses(spec), "simulated").frame


def population_averaged(log_odds: float) -> float:
    """What a GEE estimates: the log-odds of the proportion over participants and pairs."""
    sd = np.hypot(PARTICIPANT_SD, PAIR_SD)
    share, _ = integrate.quad(lambda z: expit(log_odds + sd * z) * stats.norm.pdf(z), -12, 12)
    return float(logit(share))


def gee_by_participant(frame) -> tuple[float, float]:
    """statsmodels' GEE, exchangeable within participant: what the fallback used to be."""
    rows = decided(frame, "larger")
    endog, exog = regression._design(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GEE(endog, exog, groups=rows["participant_id"].to_numpy(),
                     family=sm.families.Binomial(), cov_struct=sm.cov_struct.Exchangeable()).fit()
    return float(fit.params[0]), float(fit.bse[0])


@pytest.fixture(scope="module")
def fits():
    out = {}
    with threadpool_limits(1) if threadpool_limits else contextlib.nullcontext():
        for log_odds, n in STUDIES.items():
            runs = []
            for seed in range(n):
                frame = simulated_frame(log_odds, 20_000 + seed)
                runs.append((regression.mixed_model(frame, "larger"),
                             regression.gee_model(frame, "larger"), gee_by_participant(frame)))
            out[log_odds] = runs
    return out


def bounds(rate: float, n: int) -> tuple[float, float]:
    se = np.sqrt(rate * (1 - rate) / n)
    return rate - 3 * se, rate + 3 * se


def covered(result: regression.ModelResult, log_odds: float) -> bool:
    return result.interval.contains(float(np.exp(log_odds)))


@pytest.mark.parametrize("log_odds", sorted(STUDIES))
def test_mixed_model_interval_covers_the_true_log_odds_95_percent(fits, log_odds):
    rate = np.mean([covered(mixed, log_odds) for mixed, _, _ in fits[log_odds]])
    low, high = bounds(0.95, STUDIES[log_odds])
    assert low <= rate <= high, f"coverage {rate:.3f} outside [{low:.3f}, {high:.3f}]"


def test_mixed_model_rejects_a_true_50_percent_at_about_alpha(fits):
    rate = np.mean([mixed.pvalue < 0.05 for mixed, _, _ in fits[0.0]])
    low, high = bounds(0.05, STUDIES[0.0])
    assert low <= rate <= high, f"type-I error {rate:.3f} outside [{low:.3f}, {high:.3f}]"


@pytest.mark.parametrize("log_odds", sorted(STUDIES))
def test_gee_fallback_interval_covers_the_population_averaged_log_odds(fits, log_odds):
    target = population_averaged(log_odds)
    rate = np.mean([covered(gee, target) for _, gee, _ in fits[log_odds]])
    low, high = bounds(0.95, STUDIES[log_odds])
    assert low <= rate <= high, f"coverage {rate:.3f} outside [{low:.3f}, {high:.3f}]"


def test_gee_fallback_rejects_a_true_50_percent_at_about_alpha(fits):
    rate = np.mean([gee.pvalue < 0.05 for _, gee, _ in fits[0.0]])
    low, high = bounds(0.05, STUDIES[0.0])
    assert low <= rate <= high, f"type-I error {rate:.3f} outside [{low:.3f}, {high:.3f}]"


def test_gee_clustered_by_participant_alone_undercovers_when_pairs_differ(fits):
    # Why the fallback clusters by pair too: every participant judges the same pairs.
    z = stats.norm.ppf(0.975)
    rate = np.mean([abs(est) <= z * se for _, _, (est, se) in fits[0.0]])
    assert rate < bounds(0.95, STUDIES[0.0])[0]


def test_mixed_model_estimate_is_unbiased_for_the_log_odds(fits):
    for log_odds, runs in fits.items():
        estimates = np.log([mixed.odds_ratio for mixed, _, _ in runs])
        assert abs(estimates.mean() - log_odds) < 3 * estimates.std() / np.sqrt(len(runs))

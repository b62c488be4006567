"""Regression models of "chose Grad-CAM" that account for who judged what.

First choice: a mixed-effects logistic regression with random intercepts for
participant and pair (statsmodels' BinomialBayesMixedGLM, variational Bayes).
Fallback: a logistic GEE with independence working correlation (a logistic
regression) whose standard errors are cluster-robust for participant and pair
together, because every participant judges the same pairs: clustering by
participant alone ignores that and, in our simulations, rejected a true 50%
in 12-17% of studies at alpha = 0.05. The result says which one ran and why.

Side is coded +1/2 (Grad-CAM shown as Image A) and -1/2 (as Image B), so the
intercept is the log-odds of choosing Grad-CAM averaged over the two sides.
Intervals and p-values use Student's t: Satterthwaite-type df from the variance
components for the mixed model (crossed_df), min(participants, pairs) - 1 for the GEE.
Each result states its estimand on the probability scale (ESTIMAND).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.special import expit

from analysis.errors import NotComputable
from analysis.stats import twoway
from analysis.stats.results import Interval
from analysis.stats.rows import comparison_rows, decided


ESTIMAND = {
    "mixed": ("the chance that a typical participant (random effect 0) picks Grad-CAM on a "
              "typical pair (random effect 0), the two sides averaged on the log-odds scale"),
    "gee": ("the population-averaged chance that a participant picks Grad-CAM on a pair, "
            "over the study's participants and pairs, the two sides averaged on the log-odds scale"),
}
TIE_WORDS = {"exclude": "ties set aside", "split": "a tie counted as half a choice of each method"}


@dataclass(frozen=True)
class ModelResult:
    model: str                 # "mixed" or "gee"
    description: str           # what exactly was fitted, for the report
    estimand: str              # the quantity `probability` estimates, in one sentence
    probability: float         # expit(intercept): chance of choosing Grad-CAM
    probability_interval: Interval
    odds_ratio: float          # odds of choosing Grad-CAM (vs HiResCAM), sides averaged
    interval: Interval
    pvalue: float              # intercept = 0, i.e. probability = 1/2
    df: float                  # of the t reference
    se: float                  # of the intercept (log-odds)
    side_odds_ratio: float     # Grad-CAM shown as A vs as B (tested in the position section)
    side_interval: Interval
    observations: int
    participants: int
    pairs: int
    ties: str = "exclude"
    participant_sd: float | None = None   # variance components (logit scale), mixed model only
    pair_sd: float | None = None
    side_sd: float | None = None          # random side slope, sensitivity model only
    note: str = ""             # e.g. why the fallback ran


@dataclass(frozen=True)
class Equivalence:
    """Two one-sided tests (TOST) that the probability lies within 1/2 +- margin."""

    margin: float              # probability points around 1/2
    pvalue: float              # the larger of the two one-sided p-values
    interval: Interval         # the (1 - 2 alpha) interval, on the probability scale
    equivalent: bool


def equivalence(model: ModelResult, margin: float, alpha: float) -> Equivalence:
    """TOST on the intercept, with the model's own t reference: equivalent when both
    one-sided tests reject, i.e. when the (1 - 2 alpha) interval lies inside the margin."""
    beta, se, df = np.log(model.odds_ratio), model.se, model.df
    low, high = np.log((0.5 - margin) / (0.5 + margin)), np.log((0.5 + margin) / (0.5 - margin))
    p = max(stats.t.sf((beta - low) / se, df), stats.t.cdf((beta - high) / se, df))
    q = stats.t.ppf(1 - alpha, df)
    interval = Interval(float(expit(beta - q * se)), float(expit(beta + q * se)), 1 - 2 * alpha,
                        f"t with {df:.1f} df")
    return Equivalence(margin, float(p), interval, bool(p < alpha))


def model_rows(frame: pd.DataFrame, question: str, ties: str = "exclude") -> pd.DataFrame:
    """The answers a model is fitted to: decided ones, or all with ties as 1/2 (ties="split")."""
    if ties == "exclude":
        return decided(frame, question)
    rows = comparison_rows(frame, question)
    rows = rows[rows["chose_gradcam"].notna() | rows["is_tie"]].copy()
    rows["chose_gradcam"] = rows["chose_gradcam"].fillna(0.5)
    return rows


def _design(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    side = np.where(rows["gradcam_on_a"].to_numpy(bool), 0.5, -0.5)
    exog = np.column_stack([np.ones(len(rows)), side])
    return rows["chose_gradcam"].to_numpy(float), exog


def _check(rows: pd.DataFrame) -> None:
    if rows.empty:
        raise NotComputable("no decided answers")
    if rows["participant_id"].nunique() < 2:
        raise NotComputable("needs at least 2 participants (one cluster cannot be modelled)")
    if rows["pair_id"].nunique() < 2:
        raise NotComputable("needs at least 2 pairs (one pair cannot be modelled)")
    if rows["chose_gradcam"].nunique() < 2:
        raise NotComputable("every decided answer chose the same method (the odds ratio is infinite)")
    _check_sides(rows)


def _check_sides(rows: pd.DataFrame) -> None:
    """Both sides seen, and neither side's answers all alike: otherwise the maximum-likelihood
    odds ratios are infinite, and a fit returns huge estimates with meaningless errors."""
    by_side = rows.groupby(rows["gradcam_on_a"].astype(bool))["chose_gradcam"]
    if by_side.ngroups < 2:
        side = "A" if bool(rows["gradcam_on_a"].iloc[0]) else "B"
        raise NotComputable(f"Grad-CAM was shown as Image {side} in every decided answer, so the "
                            "method cannot be told apart from the side it was shown on")
    for on_a, chosen in by_side:
        if chosen.nunique() < 2:
            method = "Grad-CAM" if chosen.iloc[0] == 1 else "HiResCAM"
            raise NotComputable(
                f"all {len(chosen)} decided answers with Grad-CAM shown as Image "
                f"{'A' if on_a else 'B'} chose {method} (perfect separation): the odds ratio is "
                "infinite and has no standard error")


def _summarise(model, description, params, bse, confidence, rows, df, ties, note="",
               components=(None, None, None)) -> ModelResult:
    """Intervals and p-values with Student's t on `df` degrees of freedom."""
    if not np.all(np.isfinite(params)) or not np.all(np.isfinite(bse)) or np.any(bse <= 0):
        raise NotComputable(f"the {model} model gave no usable standard errors")
    q = stats.t.ppf(0.5 + confidence / 2, df)
    low, high = params - q * bse, params + q * bse
    method = f"{description}; t with {df:.1f} df"

    def interval(i, transform=np.exp):
        return Interval(float(transform(low[i])), float(transform(high[i])), confidence, method)

    participant_sd, pair_sd, side_sd = components
    return ModelResult(
        model=model, description=description,
        estimand=f"{ESTIMAND[model]}, {TIE_WORDS[ties]}",
        probability=float(expit(params[0])), probability_interval=interval(0, expit),
        odds_ratio=float(np.exp(params[0])), interval=interval(0),
        pvalue=float(2 * stats.t.sf(abs(params[0] / bse[0]), df)), df=float(df),
        se=float(bse[0]), side_odds_ratio=float(np.exp(params[1])), side_interval=interval(1),
        observations=len(rows), participants=int(rows["participant_id"].nunique()),
        pairs=int(rows["pair_id"].nunique()), ties=ties, participant_sd=participant_sd,
        pair_sd=pair_sd, side_sd=side_sd, note=note,
    )


def _random_effects(rows: pd.DataFrame, side_slope: bool):
    """Sparse indicator columns for participant and pair (and participant x side)."""
    # Built sparse: a dense participant x answer matrix would not fit in memory for a
    # large crowd study.
    blocks, ident = [], []
    columns = [("participant_id", None), ("pair_id", None)]
    if side_slope:
        columns.append(("participant_id", np.where(rows["gradcam_on_a"].to_numpy(bool), 0.5, -0.5)))
    for k, (col, values) in enumerate(columns):
        codes, levels = pd.factorize(rows[col])
        data = np.ones(len(codes)) if values is None else values
        blocks.append(sparse.csr_matrix((data, (np.arange(len(codes)), codes)),
                                        shape=(len(codes), len(levels))))
        ident += [k] * len(levels)
    return sparse.hstack(blocks).tocsr(), np.array(ident)


def mixed_model(frame: pd.DataFrame, question: str, confidence: float = 0.95,
                ties: str = "exclude", side_slope: bool = False) -> ModelResult:
    """Random intercepts for participant and pair (and, as a sensitivity analysis, a random
    side slope per participant); raises if the fit does not converge."""
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    rows = model_rows(frame, question, ties)
    _check(rows)
    endog, exog = _design(rows)
    z, ident = _random_effects(rows, side_slope)
    names = ["participant", "pair"] + (["participant side"] if side_slope else [])
    binary = np.where(endog == 0.5, 1.0, endog)  # the constructor accepts 0/1 only
    model = BinomialBayesMixedGLM(binary, exog, z, ident, fep_names=["gradcam", "side"],
                                  vcp_names=names)
    # Ties split: the variational objective is linear in the outcome, so a tie at 1/2 gives
    # the fractional (quasi-)binomial likelihood in which a tie is half of each choice.
    model.endog = endog
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            # A fixed start (rng=0): the same export gives the same report, digit for digit.
            fit = model.fit_vb(rng=0)
        except ConvergenceWarning as exc:
            raise NotComputable(f"the mixed model did not converge ({exc})") from None
    if not np.all(np.isfinite(fit.fe_mean)):
        raise NotComputable("the mixed model gave no finite estimates")
    description = ("mixed-effects logistic regression, random intercepts for participant "
                   "and pair" + (" and a random side slope per participant" if side_slope else "")
                   + " (statsmodels BinomialBayesMixedGLM, variational Bayes; standard errors "
                   "from the Laplace curvature at the fit; Satterthwaite-type df)")
    se, mu = _coupled_fe_se(model, fit, exog)
    sds = np.exp(fit.vcp_mean)
    df = crossed_df(sds[0], sds[1], float(np.mean(1 / (mu * (1 - mu)))),
                    int(rows["participant_id"].nunique()), int(rows["pair_id"].nunique()), len(rows))
    components = (float(sds[0]), float(sds[1]), float(sds[2]) if side_slope else None)
    return _summarise("mixed", description, fit.fe_mean, se, confidence, rows, df, ties,
                      components=components)


def crossed_df(participant_sd: float, pair_sd: float, residual: float, participants: int,
               pairs: int, observations: int) -> float:
    """Degrees of freedom for the intercept of a crossed participant x pair design.

    In a balanced linear model y = mu + u + v + e, var(mean) = (MS_participant + MS_pair -
    MS_error) / N, and Satterthwaite's approximation gives its df from the mean squares'
    own df (participants - 1, pairs - 1, their product). The same formula on the logit
    scale, with the working residual variance 1 / (mu (1 - mu)) of the linearised (PQL)
    model, gives a df between min(participants, pairs) - 1 and their sum: near pairs - 1
    when the pair variance dominates, which is when a Wald z is too optimistic.
    """
    cu, cv, ce = participant_sd ** 2 / participants, pair_sd ** 2 / pairs, residual / observations
    denominator = ((cu + ce) ** 2 / max(participants - 1, 1) + (cv + ce) ** 2 / max(pairs - 1, 1)
                   + ce ** 2 / max((participants - 1) * (pairs - 1), 1))
    return float((cu + cv + ce) ** 2 / denominator)


def _coupled_fe_se(model, fit, exog: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors of the fixed effects that account for the random effects, and the
    fitted probabilities.

    The variational fit's own `fe_sd` is mean-field: it ignores how the intercept
    trades off against the random intercepts, and in our null simulations its
    tests rejected about 45% of the time at alpha = 0.05. Here the variance
    components are held at the fit and the fixed-effect block of the inverse
    curvature of the joint log-posterior is taken (a Schur complement), as a
    Laplace/PQL approximation does.
    """
    from scipy.sparse.linalg import splu

    z = model.exog_vc
    mu = expit(exog @ fit.fe_mean + z @ fit.vc_mean)
    w = mu * (1 - mu)
    xwx = exog.T @ (exog * w[:, None]) + np.eye(exog.shape[1]) / model.fe_p ** 2
    zwx = z.T @ (exog * w[:, None])
    re_precision = 1.0 / np.exp(2 * fit.vcp_mean[model.ident])
    zwz = (z.T @ sparse.diags(w) @ z + sparse.diags(re_precision)).tocsc()
    schur = xwx - zwx.T @ splu(zwz).solve(np.asarray(zwx))
    return np.sqrt(np.diag(np.linalg.inv(schur))), mu


def gee_model(frame: pd.DataFrame, question: str, confidence: float = 0.95,
              note: str = "", ties: str = "exclude") -> ModelResult:
    """Logistic GEE, independence working correlation, two-way cluster-robust errors
    (analysis/stats/twoway.py), t with min(participants, pairs) - 1 df."""
    rows = model_rows(frame, question, ties)
    _check(rows)
    endog, exog = _design(rows)
    result = twoway.fit(endog, exog, rows, "the GEE")
    description = ("logistic GEE, independence working correlation, standard errors "
                   "cluster-robust for participant and pair (two-way)")
    return _summarise("gee", description, result.params, result.se, confidence, rows,
                      result.df, ties, note)


def fit_model(frame: pd.DataFrame, question: str, confidence: float = 0.95,
              use_mixed: bool = True, ties: str = "exclude") -> ModelResult:
    _check(model_rows(frame, question, ties))  # data problems: neither model can help
    if not use_mixed:
        return gee_model(frame, question, confidence, ties=ties,
                         note="the mixed model was switched off (analysis.mixed_model = false)")
    try:
        return mixed_model(frame, question, confidence, ties=ties)
    except (NotComputable, np.linalg.LinAlgError, ValueError, OverflowError) as exc:
        return gee_model(frame, question, confidence, ties=ties, note=f"GEE ran because {exc}")

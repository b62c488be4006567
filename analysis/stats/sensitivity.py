"""The primary estimate under alternative exclusion rules (a sensitivity table).

The pre-registered rules decide; this table shows whether the estimate depends on
them. Each row re-applies the exclusions with one rule changed and refits the
pre-registered model; no p-values (they would be a garden of forking paths).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.errors import NotComputable
from analysis.inputs.exclusions import apply_exclusions
from analysis.settings import AnalysisConfig
from analysis.stats import regression
from analysis.stats.results import Skipped


@dataclass(frozen=True)
class ExclusionSensitivity:
    rule: str
    participants: int
    estimates: tuple        # (question, ModelResult | Skipped), one per primary question


def changed(config: AnalysisConfig, **changes) -> AnalysisConfig:
    return config.model_copy(update=changes)


def alternative_rules(config: AnalysisConfig) -> list[tuple[str, AnalysisConfig]]:
    rules = [("pre-registered rules", config),
             ("no attention-check exclusion", changed(config, max_failed_attention_checks=10 ** 6)),
             ("no failed attention-check trial allowed", changed(config, max_failed_attention_checks=0)),
             ("completion not required", changed(config, require_completion=False)),
             ("median response time at least 1,000 ms",
              changed(config, min_median_rt_ms=max(config.min_median_rt_ms, 1000.0)))]
    seen, out = set(), []
    for label, rule in rules:
        key = (rule.max_failed_attention_checks, rule.require_completion, rule.min_median_rt_ms)
        if label == "pre-registered rules" or key not in seen:
            out.append((label, rule))
        seen.add(key)
    return out


def exclusion_sensitivity(frame: pd.DataFrame, config: AnalysisConfig) -> tuple[ExclusionSensitivity, ...]:
    out = []
    for label, rule in alternative_rules(config):
        kept, flow = apply_exclusions(frame, rule)
        estimates = []
        for q in config.primary_questions:
            try:
                estimates.append((q, regression.fit_model(kept, q, config.confidence,
                                                      use_mixed=config.mixed_model, ties=config.ties)))
            except NotComputable as exc:
                estimates.append((q, Skipped("model", str(exc))))
        out.append(ExclusionSensitivity(label, flow.analysed, tuple(estimates)))
    return tuple(out)

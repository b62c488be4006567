"""The `[analysis]` section of study.toml: pre-registered exclusions and tests.

Declared once, here, as a frozen pydantic model (``camstudy.schema``). ``load_config``
checks the whole file first (``camstudy.studyfile``: unknown sections such as a misspelt
``[analysys]``, every package's keys, contradictions), so a typo in a pre-registered
rule cannot silently fall back to a default. Imports only the standard library and
pydantic.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from analysis.errors import AnalysisError
from camstudy.schema import Bool, Float, Int, Section, Str, key, read_section

TIES = ("exclude", "split")
# The decision is the regression model's: judgment-level and participant-level tests
# ignore part of the design's clustering and can no longer be pre-registered.
PRIMARY_TESTS = ("model",)


class AnalysisConfig(Section):
    """Pre-registered analysis choices; defaults follow the Draelos & Carin design."""

    alpha: Float = key(0.05, "test level; intervals are (1 - alpha)", gt=0, le=0.5)
    primary_questions: tuple[Annotated[Str, Field(min_length=1)], ...] = key(
        ("larger", "focused"), "the questions the pre-registered decision is about",
        expected='a list of question ids, e.g. ["larger", "focused"]', min_length=1)
    ties: Literal["exclude", "split"] = key(
        "exclude", '"exclude": the decision model is fitted to decided answers; "split": each tie enters '
        "it as half a choice of each method (the other handling is always reported as a sensitivity "
        "analysis)")
    primary_test: Literal["model"] = key(
        "model", "the pre-registered decision: the regression model's Holm-adjusted p-value (the "
        "judgment-level binomial and participant-level tests ignore the design's clustering and "
        "cannot decide; docs/analysis.md)")
    max_failed_attention_checks: Int = key(1, "failed attention-check trials (a trial fails when any "
                                           "of its answers is wrong) a participant may have and stay "
                                           "in the analysis", ge=0)
    require_completion: Bool = key(True, "exclude participants who did not reach the end")
    min_median_rt_ms: Float = key(0.0, "exclude participants whose median response time (ms) is lower", ge=0)
    min_median_server_ms: Float = key(
        1000.0, "exclude participants whose median server-side time per trial (ms, the survey server's clock "
        "from serving a trial to its answer's arrival; export column server_ms) is lower; 0: rule off", ge=0)
    include_unverified: Bool = key(False, "keep crowd answers whose ids MTurk/Prolific has not confirmed "
                                   "(export column verification) in the primary analysis")
    mixed_model: Bool = key(True, "fit the mixed-effects model (false: GEE only; slow on very large exports)")
    seed: Int = key(0, "kept for older study files; nothing in the analysis is random any more")
    equivalence_margin: Float = key(0.05, "TOST: the methods count as equivalent when the chance of "
                                    "choosing Grad-CAM lies within 1/2 +- this", gt=0, lt=0.5)

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


SECTIONS = {"analysis": AnalysisConfig}


def load_config(path: str | Path | None) -> AnalysisConfig:
    """Read `[analysis]` from a study.toml checked as a whole; no path (or no section) means defaults."""
    if path is None:
        return AnalysisConfig()
    from camstudy import studyfile  # it collects this module's declarations

    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise AnalysisError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise AnalysisError(f"{path}: not valid TOML ({exc})") from None
    problems = studyfile.problems(data, str(path))
    if problems:
        raise AnalysisError("\n".join(problems))
    return config_from_dict(data.get("analysis", {}), source=str(path))


def config_from_dict(section: dict, source: str = "study.toml") -> AnalysisConfig:
    """The `[analysis]` table alone, checked (errors name ``source``, the key and what was expected)."""
    config, problems = read_section(AnalysisConfig, section, source, "analysis")
    if problems:
        raise AnalysisError("\n".join(problems))
    return config

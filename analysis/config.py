"""The `[analysis]` section of study.toml: pre-registered exclusions and tests.

Only this section is read; the other sections belong to the generator and the
webapp, which validate them. Unknown keys are rejected so that a typo in a
pre-registered rule cannot silently fall back to a default.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from analysis.errors import AnalysisError

TIES = ("exclude", "split")
# The decision is the regression model's: judgment-level and participant-level tests
# ignore part of the design's clustering and can no longer be pre-registered.
PRIMARY_TESTS = ("model",)


@dataclass(frozen=True)
class AnalysisConfig:
    """Pre-registered analysis choices; defaults follow the Draelos & Carin design."""

    alpha: float = 0.05
    primary_questions: tuple[str, ...] = ("larger", "focused")
    # "exclude": the primary proportion is among non-ties; "split": ties count half
    # to each method. The other handling is always reported as a sensitivity analysis.
    ties: str = "exclude"
    # Which test's Holm-adjusted p-value is the pre-registered decision.
    primary_test: str = "model"
    # Attention-check trials (not answers) a participant may fail and still be analysed.
    max_failed_attention_checks: int = 1
    require_completion: bool = True
    min_median_rt_ms: float = 0.0
    # Fit the mixed-effects model (slow on very large exports; GEE runs otherwise).
    mixed_model: bool = True
    seed: int = 0
    # TOST: the methods count as equivalent when the probability lies within 1/2 +- this.
    equivalence_margin: float = 0.05

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


EXPECTED = {
    "alpha": "a number between 0 and 0.5, e.g. 0.05",
    "primary_questions": 'a list of question ids, e.g. ["larger", "focused"]',
    "ties": f"one of {', '.join(TIES)}",
    "primary_test": ('"model" (the binomial and participant-level tests ignore the '
                     "clustering and cannot decide; docs/analysis.md)"),
    "max_failed_attention_checks": "a whole number >= 0",
    "require_completion": "true or false",
    "min_median_rt_ms": "a number of milliseconds >= 0",
    "mixed_model": "true or false",
    "seed": "a whole number",
    "equivalence_margin": "a probability margin between 0 and 0.5, e.g. 0.05",
}


def load_config(path: str | Path | None) -> AnalysisConfig:
    """Read `[analysis]` from a study.toml; no path (or no section) means defaults."""
    if path is None:
        return AnalysisConfig()
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise AnalysisError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise AnalysisError(f"{path}: not valid TOML ({exc})") from None
    section = data.get("analysis", {})
    if not isinstance(section, dict):
        raise AnalysisError(f"{path}: [analysis] must be a table")
    return config_from_dict(section, source=str(path))


def config_from_dict(section: dict, source: str = "study.toml") -> AnalysisConfig:
    known = {f.name for f in fields(AnalysisConfig)}
    for key in section:
        if key not in known:
            raise AnalysisError(
                f"{source}: unknown key 'analysis.{key}'; expected one of: "
                + ", ".join(sorted(known))
            )
    values = {key: _check(key, value, source) for key, value in section.items()}
    return AnalysisConfig(**values)


def _check(key: str, value, source: str):
    def bad() -> AnalysisError:
        return AnalysisError(
            f"{source}: analysis.{key} = {value!r} is not valid; expected {EXPECTED[key]}"
        )

    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if key == "alpha":
        if not is_number or not 0 < value <= 0.5:
            raise bad()
        return float(value)
    if key == "primary_questions":
        if not isinstance(value, list) or not value or not all(
            isinstance(q, str) and q for q in value
        ):
            raise bad()
        return tuple(value)
    if key == "ties":
        if value not in TIES:
            raise bad()
        return value
    if key == "primary_test":
        if value not in PRIMARY_TESTS:
            raise bad()
        return value
    if key in ("max_failed_attention_checks", "seed"):
        if not is_int or (key != "seed" and value < 0):
            raise bad()
        return value
    if key in ("require_completion", "mixed_model"):
        if not isinstance(value, bool):
            raise bad()
        return value
    if key == "equivalence_margin":
        if not is_number or not 0 < value < 0.5:
            raise bad()
        return float(value)
    if key == "min_median_rt_ms":
        if not is_number or value < 0:
            raise bad()
        return float(value)
    raise bad()  # pragma: no cover - every known key is handled above

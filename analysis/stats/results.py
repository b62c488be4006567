"""Small result objects shared by the statistics, and their JSON form.

Like scipy.stats' result classes: frozen, named fields, no formatting. The report
renders them; results.json is `to_jsonable` of them.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float = 0.95
    method: str = ""

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Skipped:
    """A result that could not be computed, and why (shown in the report)."""

    what: str
    reason: str


def to_jsonable(obj):
    """Dataclasses (and pydantic models), tuples, numpy scalars -> JSON types; NaN/inf -> null."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"type": type(obj).__name__}
        out.update({f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)})
        return out
    if hasattr(obj, "model_dump"):  # a pydantic model: the [analysis] section
        return {"type": type(obj).__name__, **to_jsonable(obj.model_dump())}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    return obj


def pvalues(obj, path: str = "") -> dict[str, float]:
    """Every p-value in a result tree, by path (list items named by their question/class).

    The calibration tests run the report's analysis on simulated null studies and check
    the rejection rate of each of these; a p-value added anywhere is checked too."""
    out: dict[str, float] = {}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            child = getattr(obj, f.name)
            name = f"{path}.{f.name}" if path else f.name
            if ("pvalue" in f.name or f.name == "adjusted") and isinstance(child, (float, int)):
                out[name] = float(child)
            else:
                out.update(pvalues(child, name))
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            label = next((str(getattr(item, a)) for a in ("class_name", "question", "label", "rule")
                          if hasattr(item, a)), str(i))
            out.update(pvalues(item, f"{path}[{label}]"))
    return out

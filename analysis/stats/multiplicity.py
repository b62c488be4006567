"""Holm's step-down correction across the primary questions.

The same numbers as statsmodels' ``multipletests(p, alpha, method="holm")`` (the test
tests/analysis/stats/test_numbers.py checks them against it), without the full garbage
collection statsmodels 0.15 runs on every Holm call (``gc.collect()`` in its "holm"
branch). A report calls it once, but the power search and the calibration simulations
call it once per simulated study: in a process that holds many objects each call took
0.1-0.5 s, most of the power search's time.
"""
from __future__ import annotations

import numpy as np


def holm(pvalues, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(reject, adjusted p-values), both in the order of ``pvalues``."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p)
    ranked = p[order]
    steps = np.arange(m, 0, -1)
    fails = np.nonzero(ranked > alpha / steps)[0]
    first_fail = fails[0] if fails.size else m  # step down: stop at the first that fails
    reject_ranked = np.arange(m) < first_fail
    adjusted_ranked = np.minimum(np.maximum.accumulate(ranked * steps), 1.0)
    reject, adjusted = np.empty(m, dtype=bool), np.empty(m)
    reject[order], adjusted[order] = reject_ranked, adjusted_ranked
    return reject, adjusted

"""How different a study's two methods look, from the manifest's per-side metrics.

Three numbers describe whether a study of Grad-CAM against HiResCAM shows the
paper's effect (issue 15; docs/generator-inputs.md gives the demo's values):

* the median over pairs of Grad-CAM's ``area_above_half`` divided by HiResCAM's;
* the share of pairs in which Grad-CAM's area is more than 10% larger;
* the mean RMS distance between the two normalised maps (0 to 1).

The RMS distance is each pair's ``map_difference`` (display resolution, written by
`generate`). Manifests without it fall back to the per-side ``faithfulness_distance``
of ``[evaluation] evaluate = true`` on a flatten head (feature resolution): HiResCAM
equals the ground-truth map there, so Grad-CAM's distance to it is its distance to
HiResCAM, up to HiResCAM's own distance (the triangle inequality), reported as
``rms_uncertainty``. Without either the RMS distance is None.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median

LARGER_BY = 1.10  # "more than 10% larger"
NEAR_IDENTICAL = 0.05  # RMS distance under which a pair is void ([pairs] min_map_difference's default)


@dataclass(frozen=True)
class MethodContrast:
    pairs: int
    area_ratio_median: float     # median of broad-method area / focal-method area
    larger_pairs: int            # pairs where that ratio exceeds LARGER_BY
    rms_mean: float | None       # mean RMS distance between the two normalised maps
    rms_uncertainty: float | None  # 0 for map_difference; else the focal method's largest distance to the truth
    near_identical_pairs: int | None  # pairs whose RMS distance is under NEAR_IDENTICAL

    @property
    def larger_share(self) -> float:
        return self.larger_pairs / self.pairs if self.pairs else float("nan")

    def text(self, broad: str = "gradcam", focal: str = "hirescam") -> str:
        rms = "n/a (needs [evaluation] evaluate = true on a flatten head)" if self.rms_mean is None \
            else f"{self.rms_mean:.3f} ({self.near_identical_pairs} pairs under {NEAR_IDENTICAL})"
        return (f"{broad} area above 0.5 is a median {self.area_ratio_median:.2f}x {focal}'s; "
                f"{broad} is more than 10% larger in {self.larger_pairs} of {self.pairs} pairs "
                f"({self.larger_share:.0%}); mean RMS distance between the normalised maps {rms}")


def _sides(pair: dict, broad: str, focal: str) -> tuple[dict, dict, float | None] | None:
    by_method = {side["method"]: side["metrics"] for side in pair["sides"].values()}
    if pair.get("is_attention_check") or broad not in by_method or focal not in by_method:
        return None
    return by_method[broad], by_method[focal], pair.get("map_difference")


def _ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b
    return 1.0 if a == 0 else math.inf


def method_contrast(manifest: dict, broad: str = "gradcam", focal: str = "hirescam") -> MethodContrast | None:
    """The three numbers over the manifest's real pairs (attention checks left out); None if none."""
    sides = [s for s in (_sides(p, broad, focal) for p in manifest["pairs"]) if s is not None]
    if not sides:
        return None
    ratios = [_ratio(b["area_above_half"], f["area_above_half"]) for b, f, _ in sides]
    distances, uncertainty = [d for _, _, d in sides], 0.0
    if None in distances:  # an older manifest: through the ground truth, when there is one
        distances = [b.get("faithfulness_distance") for b, _, _ in sides]
        focal_error = [f.get("faithfulness_distance") for _, f, _ in sides]
        uncertainty = None if None in focal_error else max(focal_error)
    known = None not in distances and uncertainty is not None
    return MethodContrast(
        pairs=len(sides),
        area_ratio_median=median(ratios),
        larger_pairs=sum(r > LARGER_BY for r in ratios),
        rms_mean=sum(distances) / len(distances) if known else None,
        rms_uncertainty=uncertainty if known else None,
        near_identical_pairs=sum(d < NEAR_IDENTICAL for d in distances) if known else None,
    )

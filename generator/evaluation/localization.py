"""How well normalised maps find the object: IoU, pointing game, energy inside the mask.

All functions take B×H×W maps in [0, 1] (after ReLU and min-max normalisation,
upsampled to the model's crop) and B×H×W bool object masks in the same crop
coordinates. Values that are undefined (an empty mask, an all-zero map) are NaN.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def _nan_where(values: torch.Tensor, undefined: torch.Tensor) -> torch.Tensor:
    return values.masked_fill(undefined, float("nan"))


def iou_at(maps01: torch.Tensor, masks: torch.Tensor, thresholds: Sequence[float] = THRESHOLDS) -> torch.Tensor:
    """B×T IoU of the region ``map > t`` with the mask, for each threshold t."""
    t = torch.as_tensor(list(thresholds), dtype=maps01.dtype, device=maps01.device)
    pred = maps01[:, None] > t[None, :, None, None]
    m = masks[:, None].bool()
    inter = (pred & m).flatten(2).sum(-1).double()
    union = (pred | m).flatten(2).sum(-1).double()
    empty_mask = ~masks.flatten(1).any(1)[:, None].expand_as(union)
    return _nan_where(inter / union.clamp_min(1), empty_mask)


def pointing_hit(maps01: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """B floats: 1 if the map's maximum (first in row-major order on ties) lies in the mask, else 0."""
    flat = maps01.flatten(1)
    peak = flat.argmax(dim=1, keepdim=True)
    hit = masks.flatten(1).bool().gather(1, peak)[:, 0].double()
    undefined = (flat.amax(dim=1) <= 0) | ~masks.flatten(1).any(1)
    return _nan_where(hit, undefined)


def energy_inside(maps01: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """B floats: the share of the map's total value that falls inside the mask."""
    total = maps01.flatten(1).double().sum(1)
    inside = (maps01 * masks.to(maps01.dtype)).flatten(1).double().sum(1)
    undefined = (total <= 0) | ~masks.flatten(1).any(1)
    return _nan_where(inside / total.clamp_min(1e-300), undefined)


@dataclass
class SegmentationTally:
    """Weakly-supervised segmentation: the thresholded map as the class's predicted mask.

    Intersections and unions are summed over all images of a class (as in the
    PASCAL VOC segmentation benchmark), per method; the class IoU is their ratio
    and the mIoU is the mean over classes that have at least one mask.
    """

    threshold: float = 0.5
    counts: dict = field(default_factory=dict)  # (method, class_name) -> [intersection, union]

    def add(self, method: str, class_names: Sequence[str], maps01: torch.Tensor, masks: torch.Tensor) -> None:
        pred = maps01 > self.threshold
        m = masks.bool()
        inter = (pred & m).flatten(1).sum(1).tolist()
        union = (pred | m).flatten(1).sum(1).tolist()
        has = m.flatten(1).any(1).tolist()
        for name, i, u, ok in zip(class_names, inter, union, has):
            if ok:
                tally = self.counts.setdefault((method, name), [0, 0])
                tally[0] += i
                tally[1] += u

    def class_iou(self) -> dict[str, dict[str, float]]:
        """class name -> method -> IoU."""
        out: dict[str, dict[str, float]] = {}
        for (method, name), (i, u) in sorted(self.counts.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            out.setdefault(name, {})[method] = i / u if u else float("nan")
        return out

    def miou(self) -> dict[str, float]:
        """method -> mean IoU over classes."""
        per_method: dict[str, list[float]] = {}
        for by_method in self.class_iou().values():
            for method, value in by_method.items():
                per_method.setdefault(method, []).append(value)
        return {m: sum(v) / len(v) for m, v in per_method.items()}

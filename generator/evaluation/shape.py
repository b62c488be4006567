"""Size and shape of normalised maps: area, entropy, connected blobs, roundness.

Takes B×H×W maps in [0, 1]. The region of a map is where it exceeds 0.5, the
threshold of the manifest's ``area_above_half``. Everything runs in torch on the
maps' own device (no scipy in the generator).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

REGION_THRESHOLD = 0.5


def area_above(maps01: torch.Tensor, threshold: float = REGION_THRESHOLD) -> torch.Tensor:
    """B floats: fraction of pixels above ``threshold``."""
    return (maps01 > threshold).flatten(1).double().mean(1)


def entropy_bits(maps01: torch.Tensor) -> torch.Tensor:
    """B floats: Shannon entropy (bits) of the map normalised to sum 1 (as in the manifest)."""
    flat = maps01.flatten(1).double()
    p = flat / flat.sum(1, keepdim=True).clamp_min(1e-12)
    return torch.special.entr(p).sum(1) / math.log(2)


def count_blobs(regions: torch.Tensor) -> torch.Tensor:
    """B ints: 8-connected components of bool B×H×W regions.

    Each region pixel starts with its own label (1 + its flat index); a 3×3 max-pool
    restricted to the region spreads the largest label through each component until
    nothing changes. A component then holds its largest starting label everywhere,
    and exactly one pixel (the one that started with it) still carries its own.
    """
    b, h, w = regions.shape
    regions = regions.bool()
    dtype = torch.float32 if h * w < 2 ** 24 else torch.float64  # labels stay exact integers
    start = torch.arange(1, h * w + 1, device=regions.device, dtype=dtype).view(1, h, w) * regions
    labels = start
    while True:
        grown = F.max_pool2d(labels[:, None], 3, stride=1, padding=1)[:, 0] * regions
        if torch.equal(grown, labels):
            break
        labels = grown
    return ((labels == start) & regions).flatten(1).sum(1)


def roundness(regions: torch.Tensor) -> torch.Tensor:
    """B floats in (0, 1]: sqrt(minor / major principal variance) of the region's pixels.

    1 for a disc or a square, near 0 for a thin line. Each pixel counts as a unit
    square (variance 1/12 along each axis), so a single pixel is round. NaN when the
    region is empty.
    """
    b, h, w = regions.shape
    r = regions.double()
    n = r.flatten(1).sum(1)
    ys = torch.arange(h, device=r.device, dtype=torch.float64)[None, :, None]
    xs = torch.arange(w, device=r.device, dtype=torch.float64)[None, None, :]
    safe = n.clamp_min(1)[:, None, None]
    cy, cx = (r * ys).sum((1, 2), keepdim=True) / safe, (r * xs).sum((1, 2), keepdim=True) / safe
    vyy = (r * (ys - cy) ** 2).sum((1, 2)) / n.clamp_min(1) + 1 / 12
    vxx = (r * (xs - cx) ** 2).sum((1, 2)) / n.clamp_min(1) + 1 / 12
    vxy = (r * (ys - cy) * (xs - cx)).sum((1, 2)) / n.clamp_min(1)
    half_trace = (vxx + vyy) / 2
    root = (((vxx - vyy) / 2) ** 2 + vxy ** 2).sqrt()
    ratio = ((half_trace - root).clamp_min(0) / (half_trace + root)).sqrt()
    return ratio.masked_fill(n == 0, float("nan"))


def shape_metrics(maps01: torch.Tensor, threshold: float = REGION_THRESHOLD) -> dict[str, torch.Tensor]:
    regions = maps01 > threshold
    return {"area_above_half": area_above(maps01, threshold), "entropy": entropy_bits(maps01),
            "blobs": count_blobs(regions).double(), "roundness": roundness(regions)}

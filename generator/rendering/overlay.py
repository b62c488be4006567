"""Turning raw maps into overlays, on the maps' own device, a batch at a time.

ReLU, per-map min-max normalisation, bilinear upsampling to the display size, a
256-entry colormap table looked up on the device, alpha blending over the image.
Both sides of a pair go through exactly the same code with the same settings, so
nothing but the heat pattern tells them apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from generator.errors import CamStudyError

_TABLES = Path(__file__).with_name("colormaps.npz")


@lru_cache(maxsize=None)
def _table(name: str) -> np.ndarray:
    with np.load(_TABLES) as tables:
        if name not in tables.files:
            raise CamStudyError(f"unknown colormap {name!r}; available: {', '.join(sorted(tables.files))}")
        return tables[name]


def colormap(name: str, device: torch.device | str = "cpu") -> torch.Tensor:
    """The 256×3 uint8 table of a colormap (jet, turbo, viridis, inferno, gray)."""
    return torch.from_numpy(_table(name)).to(device)


def relu_normalize(maps: torch.Tensor) -> torch.Tensor:
    """ReLU, then min-max per map to [0, 1]; an all-zero map stays zero."""
    maps = maps.clamp_min(0)
    flat = maps.flatten(1)
    lo = flat.amin(dim=1)[:, None, None]
    hi = flat.amax(dim=1)[:, None, None]
    return (maps - lo) / (hi - lo).clamp_min(torch.finfo(maps.dtype).eps)


def upsample(maps: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear upsampling of B×h×w maps to B×height×width (align_corners=False)."""
    up = F.interpolate(maps[:, None].float(), size=(height, width), mode="bilinear", align_corners=False)
    return up[:, 0].clamp(0, 1)


def apply_colormap(maps01: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """B×H×W maps in [0, 1] to B×3×H×W uint8 colours through a 256-entry table."""
    index = (maps01 * 255).round().long().clamp(0, 255)
    return table[index].permute(0, 3, 1, 2).contiguous()


def blend(images: torch.Tensor, heat: torch.Tensor, alpha: float) -> torch.Tensor:
    """Alpha-blend uint8 heat colours over uint8 images: (1 - alpha)·image + alpha·heat."""
    out = torch.lerp(images.float(), heat.float(), alpha)
    return out.round_().clamp_(0, 255).to(torch.uint8)


@dataclass(frozen=True)
class RenderSettings:
    colormap: str = "jet"
    alpha: float = 0.5
    format: str = "png"
    jpeg_quality: int = 95
    png_compression: int = 1
    composite: bool = False  # one image original | A | B instead of separate files
    gap: int = 8             # pixels between the panels of a composite


def composite(original: torch.Tensor, left: torch.Tensor, right: torch.Tensor, gap: int) -> torch.Tensor:
    """original | A | B side by side on white, the same layout for every pair."""
    b, c, h, w = original.shape
    canvas = torch.full((b, c, h, 3 * w + 2 * gap), 255, dtype=torch.uint8, device=original.device)
    for i, panel in enumerate((original, left, right)):
        x = i * (w + gap)
        canvas[..., x : x + w] = panel
    return canvas


def map_metrics(maps01: torch.Tensor) -> list[dict]:
    """Objective descriptions of normalised display-resolution maps (see docs/formats.md)."""
    b, h, w = maps01.shape
    maps01 = maps01.float()
    area = (maps01 > 0.5).flatten(1).sum(dim=1).double() / (h * w)
    total = maps01.sum(dim=(1, 2), keepdim=True).clamp_min(1e-12)
    p = maps01 / total
    entropy = torch.special.entr(p).sum(dim=(1, 2)) / math.log(2)  # bits
    ys = (torch.arange(h, device=maps01.device, dtype=torch.float32) + 0.5) / h
    xs = (torch.arange(w, device=maps01.device, dtype=torch.float32) + 0.5) / w
    py, px = p.sum(dim=2), p.sum(dim=1)  # marginals
    cy, cx = (py * ys).sum(dim=1), (px * xs).sum(dim=1)
    # E[(x - cx)^2 + (y - cy)^2] from the marginals, in pixels.
    var_y = (py * ((ys[None] - cy[:, None]) * h) ** 2).sum(dim=1)
    var_x = (px * ((xs[None] - cx[:, None]) * w) ** 2).sum(dim=1)
    spread = (var_x + var_y).clamp_min(0).sqrt() / math.hypot(h, w)
    rows = torch.stack([area, entropy.double(), cx.double(), cy.double(), spread.double()], dim=1).cpu().tolist()
    return [
        {"area_above_half": round(a, 6), "entropy": round(e, 6), "centroid": [round(x, 6), round(y, 6)],
         "spread": round(s, 6)}
        for a, e, x, y, s in rows
    ]

"""Turning raw maps into overlays, on the maps' own device, a batch at a time.

ReLU, per-map min-max normalisation, bilinear upsampling to the display size, a
256-entry colormap table looked up on the device, alpha blending over the image.
Both sides of a pair go through exactly the same code with the same settings, so
nothing but the heat pattern tells them apart.
"""
from __future__ import annotations

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


def colormap_names() -> list[str]:
    with np.load(_TABLES) as tables:
        return sorted(tables.files)


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
    out = (1 - alpha) * images.float() + alpha * heat.float()
    return out.round().clamp(0, 255).to(torch.uint8)


@dataclass(frozen=True)
class RenderSettings:
    colormap: str = "jet"
    alpha: float = 0.5
    format: str = "png"
    jpeg_quality: int = 95
    png_compression: int = 1
    composite: bool = False  # one image original | A | B instead of separate files
    gap: int = 8             # pixels between the panels of a composite


def overlays(images: torch.Tensor, maps01: torch.Tensor, settings: RenderSettings) -> torch.Tensor:
    """Overlays (B×3×H×W uint8) of normalised feature-resolution maps on display images."""
    h, w = images.shape[-2:]
    heat = apply_colormap(upsample(maps01, h, w), colormap(settings.colormap, images.device))
    return blend(images, heat, settings.alpha)


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
    area = (maps01 > 0.5).flatten(1).float().mean(dim=1)
    mass = maps01.flatten(1).double()
    total = mass.sum(dim=1, keepdim=True)
    p = mass / total.clamp_min(1e-12)
    entropy = -(p * torch.log2(p.clamp_min(1e-300))).sum(dim=1)
    ys = (torch.arange(h, device=maps01.device, dtype=torch.float64) + 0.5) / h
    xs = (torch.arange(w, device=maps01.device, dtype=torch.float64) + 0.5) / w
    p2 = p.view(b, h, w)
    cy = (p2.sum(dim=2) * ys).sum(dim=1)
    cx = (p2.sum(dim=1) * xs).sum(dim=1)
    dy = (ys[None, :, None] - cy[:, None, None]) * h
    dx = (xs[None, None, :] - cx[:, None, None]) * w
    spread = ((p2 * (dx**2 + dy**2)).sum(dim=(1, 2))).sqrt() / (h**2 + w**2) ** 0.5
    rows = torch.stack([area.double(), entropy, cx, cy, spread], dim=1).cpu().tolist()
    return [
        {"area_above_half": round(a, 6), "entropy": round(e, 6), "centroid": [round(x, 6), round(y, 6)],
         "spread": round(s, 6)}
        for a, e, x, y, s in rows
    ]

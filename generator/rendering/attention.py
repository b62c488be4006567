"""Attention checks: catch pairs with a known right answer, drawn like real stimuli.

One side shows a broad heat region and the other a small focal blob, on a study
image, through the same normalisation, colormap and blending as the real pairs. The
correct answer is the broad side for "larger" and the focal side for "focused".
"""
from __future__ import annotations

import numpy as np
import torch

EXPECTED = {"larger": "broad", "focused": "focal"}


def blob(size: int, center: tuple[float, float], sigma: float) -> torch.Tensor:
    """A Gaussian blob on a size×size grid; center and sigma as fractions of the side."""
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    d2 = (x - center[0]) ** 2 + (y - center[1]) ** 2
    return torch.exp(-d2 / (2 * sigma**2))


def catch_maps(rng: np.random.Generator, size: int = 56) -> tuple[torch.Tensor, torch.Tensor]:
    """(broad, focal) maps in [0, 1]: the broad one covers roughly half the image, the focal one a few percent."""
    broad = blob(size, tuple(rng.uniform(0.4, 0.6, 2)), sigma=float(rng.uniform(0.28, 0.34)))
    focal = blob(size, tuple(rng.uniform(0.25, 0.75, 2)), sigma=float(rng.uniform(0.05, 0.07)))
    return broad, focal


def expected_answers(broad_side: str) -> dict[str, str]:
    focal_side = "B" if broad_side == "A" else "A"
    return {q: broad_side if kind == "broad" else focal_side for q, kind in EXPECTED.items()}

"""Preprocessing in two steps, so the display image is exactly what the model sees.

``display`` does the geometric part (resize the shorter side, center crop) on uint8
pixels; ``normalize`` turns those same pixels into the model's float input. The
stimulus shown to participants is the output of ``display``, and the CAM is
computed on ``normalize(display(img))``: there is no second resize that could move
an edge by a pixel between what was explained and what is shown.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    resize: int | None = 256  # shorter side, before cropping; None keeps the image's size
    crop: int = 224  # center crop, square
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.resize is not None and self.resize < 1:
            raise ValueError(f"resize must be a positive size or None, got {self.resize}")
        if self.crop < 1:
            raise ValueError(f"crop must be a positive size, got {self.crop}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean and std need 3 values each (std > 0), got {self.mean}, {self.std}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    def display(self, img: Image.Image | torch.Tensor) -> torch.Tensor:
        """The uint8 3×crop×crop crop the model sees (an RGB PIL image or a uint8 3×H×W tensor)."""
        pixels = F.pil_to_tensor(img) if isinstance(img, Image.Image) else img
        if pixels.dtype != torch.uint8 or pixels.dim() < 3 or pixels.shape[-3] != 3:
            raise ValueError(f"display needs an RGB image, got {pixels.dtype} tensor of shape {tuple(pixels.shape)}")
        return self._geometry(pixels, InterpolationMode.BILINEAR)

    def normalize(self, batch_uint8: torch.Tensor) -> torch.Tensor:
        """B×3×H×W (or 3×H×W) uint8 on any device -> float32 model input on the same device."""
        if batch_uint8.dtype != torch.uint8:
            raise ValueError(f"normalize expects uint8 pixels from display(), got {batch_uint8.dtype}")
        x = batch_uint8.to(torch.float32).div_(255)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(3, 1, 1)
        return x.sub_(mean).div_(std)

    def crop_mask(self, mask: np.ndarray) -> np.ndarray:
        """The same resize and crop applied to a bool H×W mask (nearest neighbour)."""
        m = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.uint8))[None]
        return self._geometry(m, InterpolationMode.NEAREST_EXACT)[0].numpy().astype(bool)

    def _geometry(self, pixels: torch.Tensor, interpolation: InterpolationMode) -> torch.Tensor:
        if self.resize is not None:
            pixels = F.resize(pixels, [self.resize], interpolation=interpolation,
                              antialias=interpolation == InterpolationMode.BILINEAR)
        return F.center_crop(pixels, [self.crop, self.crop])

    def to_dict(self) -> dict:
        """JSON-able settings, for checkpoints and the manifest."""
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


def demo_preprocess(input_size: int = 128) -> Preprocess:
    """The demo CNN's preprocessing: the whole square scene, scaled to the model's input."""
    return Preprocess(resize=input_size, crop=input_size)

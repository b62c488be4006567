"""Encoding images to files.

Stimuli (the two sides of a pair, attention checks, composites) are written as
*layout-free* PNGs: every byte that is not a pixel sample is a function of the image's
width and height alone. Rows carry filter type 0 (none), the zlib stream holds stored
(uncompressed) deflate blocks, the IDAT chunks have a fixed size. So the file length, the
chunk list, the IDAT lengths, the compressed-stream length and the filter bytes are the
same for Grad-CAM and HiResCAM; nothing but the pixels tells the methods apart.

Why not pad compressed files to one length: a pad's size is the compressed size it makes
up for, so how equal lengths are reached tells the smoother (better compressing) method.
Why not a library encoder: libpng and Pillow pick a filter per row by its content (an
adaptive heuristic neither lets us turn off), and those filter bytes sort the methods as
well as the lengths do. The deflate coding itself is zlib's.

Images that do not differ by method (the original photo) are ordinary compressed PNG or
JPEG files from torchvision's encoders, without text, time or EXIF chunks.
"""
from __future__ import annotations

import numpy as np
import torch
from torchvision.io import encode_jpeg, encode_png

from camstudy import layoutfree
from generator.errors import CamStudyError

FORMATS = {"png": ".png", "jpeg": ".jpg"}
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}


def encode_batch(images: torch.Tensor, fmt: str = "png", quality: int = 95, png_level: int = 1) -> list[bytes]:
    """B×3×H×W uint8 on any device to a list of compressed files (for images that are the
    same for both methods). PNG is lossless, zlib level 1 by default; JPEG uses
    torchvision's GPU encoder when the tensors live on CUDA. No metadata is written."""
    if fmt == "png":
        cpu = images.cpu()
        return [encode_png(img, compression_level=png_level).numpy().tobytes() for img in cpu]
    if fmt == "jpeg":
        if images.is_cuda:
            return [t.cpu().numpy().tobytes() for t in encode_jpeg(list(images), quality=quality)]
        return [encode_jpeg(img, quality=quality).numpy().tobytes() for img in images]
    raise CamStudyError(f"unknown image format {fmt!r}; choose one of {sorted(FORMATS)}")


def encode_stimuli(images: torch.Tensor) -> list[bytes]:
    """B×3×H×W uint8 on any device to layout-free PNG files (see the module docstring).

    The scanlines, each with its filter byte, are laid out on the images' device; only
    they cross to the host, where camstudy.layoutfree wraps them (the survey's writer too)."""
    b, c, h, w = images.shape
    if c != 3:
        raise CamStudyError(f"stimuli are RGB images, got {c} channels")
    if images.is_cuda:  # column 0: filter type 0 per row
        scanlines = torch.nn.functional.pad(images.permute(0, 2, 3, 1).reshape(b, h, w * 3), (1, 0)).cpu().numpy()
    else:  # one copy, by numpy: the pixels straight into their place after each row's filter byte
        scanlines = np.zeros((b, h, 1 + w * 3), dtype=np.uint8)
        pixels = np.lib.stride_tricks.as_strided(scanlines[:, :, 1:], shape=(b, h, w, 3),
                                                 strides=(*scanlines.strides[:2], 3, 1), writeable=True)
        pixels[...] = images.numpy().transpose(0, 2, 3, 1)
    return [layoutfree.png_from_rows(item, w, h) for item in scanlines]

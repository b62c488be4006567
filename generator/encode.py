"""Encoding overlays to image bytes: identical settings for every file, no metadata."""
from __future__ import annotations

import struct
import zlib

import torch
from torchvision.io import encode_jpeg, encode_png

from generator.errors import CamStudyError

FORMATS = {"png": ".png", "jpeg": ".jpg"}
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Ancillary, private, safe-to-copy: decoders skip it and the webapp keeps it (survey.KEEP_CHUNKS).
PAD_CHUNK = b"cpAd"
PNG_CHUNK_OVERHEAD = 12        # length, type, CRC
JPEG_SEGMENT_OVERHEAD = 4      # marker, length
JPEG_SEGMENT_MAX = 0xFFFF + 2  # the length field counts itself but not the marker


def encode_batch(images: torch.Tensor, fmt: str = "png", quality: int = 95, png_level: int = 1) -> list[bytes]:
    """B×3×H×W uint8 on any device to a list of encoded files.

    PNG is lossless; zlib level 1 by default, about four times faster to write than
    level 6 for files about 15% larger, the same level for every file. JPEG uses torchvision's GPU encoder when the tensors live on CUDA. Neither
    writes text chunks, EXIF or any other metadata.
    """
    if fmt == "png":
        cpu = images.cpu()
        return [encode_png(img, compression_level=png_level).numpy().tobytes() for img in cpu]
    if fmt == "jpeg":
        if images.is_cuda:
            return [t.cpu().numpy().tobytes() for t in encode_jpeg(list(images), quality=quality)]
        return [encode_jpeg(img, quality=quality).numpy().tobytes() for img in images]
    raise CamStudyError(f"unknown image format {fmt!r}; choose one of {sorted(FORMATS)}")


def pad_to_equal_length(blobs: list[bytes]) -> list[bytes]:
    """The same images, zero-padded so that every file has the same byte length.

    The two sides of a pair must not differ in size: Grad-CAM's smoother maps compress
    better, and a participant can read Content-Length. PNGs get a zero-filled `cpAd`
    chunk before IEND, JPEGs zero-filled COM segments after SOI and the APPn headers;
    decoded pixels are untouched. A pad has a fixed overhead, so when some file falls
    short of the longest by less than that, every file grows (the longest by an empty pad).
    """
    lengths = [len(b) for b in blobs]
    if len(set(lengths)) <= 1:
        return list(blobs)
    kinds = {image_kind(b) for b in blobs}
    if len(kinds) != 1:
        raise CamStudyError(f"cannot pad a mix of image formats to one length: {sorted(kinds)}")
    kind = kinds.pop()
    overhead = PNG_CHUNK_OVERHEAD if kind == "png" else JPEG_SEGMENT_OVERHEAD
    target = max(lengths)
    if any(0 < target - n < overhead for n in lengths):
        target += overhead
    pad = pad_png if kind == "png" else pad_jpeg
    return [pad(b, target - len(b)) for b in blobs]


def image_kind(data: bytes) -> str:
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    raise CamStudyError(f"not a PNG or JPEG file (starts with {data[:8]!r})")


def pad_png(data: bytes, extra: int) -> bytes:
    """``data`` grown by exactly ``extra`` bytes (0 or at least 12) with a `cpAd` chunk before IEND."""
    if extra == 0:
        return data
    if extra < PNG_CHUNK_OVERHEAD:
        raise ValueError(f"a PNG chunk takes at least {PNG_CHUNK_OVERHEAD} bytes, not {extra}")
    body = PAD_CHUNK + bytes(extra - PNG_CHUNK_OVERHEAD)
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    at = png_iend_offset(data)
    return data[:at] + chunk + data[at:]


def png_iend_offset(data: bytes) -> int:
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IEND":
            return pos
        pos += PNG_CHUNK_OVERHEAD + length
    raise CamStudyError("PNG without an IEND chunk: cannot pad it")


def pad_jpeg(data: bytes, extra: int) -> bytes:
    """``data`` grown by exactly ``extra`` bytes (0 or at least 4) with zero-filled COM segments."""
    if extra == 0:
        return data
    if extra < JPEG_SEGMENT_OVERHEAD:
        raise ValueError(f"a JPEG segment takes at least {JPEG_SEGMENT_OVERHEAD} bytes, not {extra}")
    count = -(-extra // JPEG_SEGMENT_MAX)  # even shares: each at least 4 bytes, at most the maximum
    sizes = [extra // count + (i < extra % count) for i in range(count)]
    segments = b"".join(b"\xff\xfe" + struct.pack(">H", n - 2) + bytes(n - JPEG_SEGMENT_OVERHEAD)
                        for n in sizes)
    at = jpeg_after_app_segments(data)
    return data[:at] + segments + data[at:]


def jpeg_after_app_segments(data: bytes) -> int:
    """Offset just past SOI and any APPn segments, so a JFIF/EXIF header stays first."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and 0xE0 <= data[pos + 1] <= 0xEF:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    return pos

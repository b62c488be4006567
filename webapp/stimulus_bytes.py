"""The bytes a participant's browser gets for an image: a layout-free PNG.

Whatever file the generator (or a hand-edited study) left on disk, the survey serves the
decoded pixels re-written in one fixed layout: signature, IHDR, IDAT chunks of 64 KiB
(the last shorter), IEND; every row with filter type 0; a zlib stream of stored deflate
blocks. Every byte that is not a pixel sample then depends on the width and height alone,
so the length, the chunk list, the stream and filter bytes cannot tell Grad-CAM from
HiResCAM, and no text, time, EXIF or ICC chunk survives (docs/generator.md, Blinding).
The generator writes its stimuli in the same layout, for studies served from S3 or a CDN
without this app in between.
"""
from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, UnidentifiedImageError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IDAT_SIZE = 1 << 16


class UnreadableImage(ValueError):
    """A stimulus file that does not decode as an image."""


def layout_free_png(data: bytes) -> bytes:
    """The image in ``data`` (any format Pillow reads) as an RGB layout-free PNG."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnreadableImage(str(exc)) from exc
    width, height = rgb.size
    pixels = rgb.tobytes()
    stride = width * 3
    rows = b"".join(b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    stream = zlib.compress(rows, 0)
    idat = b"".join(_chunk(b"IDAT", stream[i : i + IDAT_SIZE]) for i in range(0, len(stream), IDAT_SIZE))
    return (PNG_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + idat + _chunk(b"IEND", b""))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

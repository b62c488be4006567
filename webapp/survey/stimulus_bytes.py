"""The bytes a participant's browser gets for an image: a layout-free PNG.

Whatever file the generator (or a hand-edited study) left on disk, the survey serves the
decoded pixels re-written in one fixed layout: signature, IHDR, IDAT chunks of 64 KiB
(the last shorter), IEND; every row with filter type 0; a zlib stream of stored deflate
blocks. Every byte that is not a pixel sample then depends on the width and height alone,
so the length, the chunk list, the stream and filter bytes cannot tell Grad-CAM from
HiResCAM, and no text, time, EXIF or ICC chunk survives (docs/generator.md, Blinding).
The generator writes its stimuli in the same layout, for studies served from S3 or a CDN
without this app in between; both use camstudy.layoutfree.
"""
from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from camstudy.layoutfree import png_from_rgb


class UnreadableImage(ValueError):
    """A stimulus file that does not decode as an image."""


def layout_free_png(data: bytes) -> bytes:
    """The image in ``data`` (any format Pillow reads) as an RGB layout-free PNG."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnreadableImage(str(exc)) from exc
    return png_from_rgb(rgb.tobytes(), *rgb.size)

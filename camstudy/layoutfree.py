"""The layout-free PNG: one byte layout for every stimulus, written by the generator
and re-written by the survey.

Signature, IHDR (8-bit RGB, no interlace), IDAT chunks of exactly 64 KiB (the last
shorter), IEND; every row carries filter type 0 and the zlib stream holds stored
(uncompressed) deflate blocks. Every byte that is not a pixel sample is then a function
of the width and height alone, so the length, the chunk list, the stream and the filter
bytes cannot tell Grad-CAM from HiResCAM (docs/generator.md, "Byte-level blinding").

Standard library only: the generator (torch) and the survey (Pillow, no torch) both
wrap their rows with ``png_from_rows`` and so cannot drift apart.
"""
from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IDAT_SIZE = 1 << 16  # every IDAT chunk but the last holds exactly this many bytes


def chunk(kind: bytes, body: bytes | memoryview) -> bytes:
    crc = zlib.crc32(body, zlib.crc32(kind))
    return b"".join((struct.pack(">I", len(body)), kind, body, struct.pack(">I", crc)))


IEND = chunk(b"IEND", b"")


def png_from_rows(rows, width: int, height: int) -> bytes:
    """A layout-free PNG from ``height`` rows of ``1 + 3 * width`` bytes, each a 0 (filter
    type none) followed by the row's RGB samples (any contiguous buffer: bytes, an array)."""
    nbytes = memoryview(rows).nbytes
    if nbytes != height * (1 + 3 * width):
        raise ValueError(f"{nbytes} bytes of rows for a {width}x{height} RGB image "
                         f"(expected {height * (1 + 3 * width)})")
    view = memoryview(zlib.compress(rows, 0))
    idat = b"".join(chunk(b"IDAT", view[i : i + IDAT_SIZE]) for i in range(0, len(view), IDAT_SIZE))
    header = PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"".join((header, idat, IEND))


def png_from_rgb(pixels: bytes, width: int, height: int) -> bytes:
    """A layout-free PNG from packed RGB samples (``3 * width * height`` bytes, row by row)."""
    stride = width * 3
    if len(pixels) != stride * height:
        raise ValueError(f"{len(pixels)} bytes of RGB samples for a {width}x{height} image")
    rows = b"".join(b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    return png_from_rows(rows, width, height)


def size(width: int, height: int) -> int:
    """Bytes of a layout-free PNG of ``width`` x ``height`` pixels (the same for every stimulus)."""
    return len(png_from_rows(bytes(height * (1 + 3 * width)), width, height))

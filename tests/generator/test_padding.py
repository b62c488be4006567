"""Both sides of a pair have the same byte length: file size must not name the method.

Grad-CAM's smoother maps compress better, so unpadded its files are smaller; a
participant could tell the methods apart from Content-Length alone.
"""
from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.io import decode_png

from generator.encode import encode_batch, pad_to_equal_length
from generator.pipeline import generate
from generator_inputs import demo_study_toml
from webapp.survey import strip_png_metadata

DIFFERENCES = [0, 1, 2, 5, 11, 12, 13, 40, 30_000]


def png_chunks(data: bytes) -> list[tuple[bytes, bytes, int]]:
    """(type, data, stored CRC) for every chunk, in order."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        chunks.append((kind, body, crc))
        pos += 12 + length
    assert pos == len(data)
    return chunks


def gray_row_png(width: int) -> bytes:
    """A one-row grayscale PNG stored without compression: one byte longer per pixel."""
    buf = io.BytesIO()
    Image.fromarray(np.arange(width, dtype=np.uint8)[None] * 7).save(buf, "PNG", compress_level=0)
    return buf.getvalue()


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def assert_well_formed_png(data: bytes) -> None:
    chunks = png_chunks(data)
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    for kind, body, crc in chunks:
        assert zlib.crc32(kind + body) == crc, kind
    for kind, body, _ in chunks:
        if kind == b"cpAd":
            assert body == bytes(len(body))


@pytest.mark.parametrize("difference", DIFFERENCES)
def test_png_pair_ends_equal_in_length_with_the_same_pixels(difference):
    short, long = gray_row_png(50), gray_row_png(50 + difference)
    assert len(long) - len(short) == difference
    padded = pad_to_equal_length([short, long])
    assert len(padded[0]) == len(padded[1])
    for before, after in zip((short, long), padded):
        assert_well_formed_png(after)
        assert np.array_equal(pixels(before), pixels(after))
        assert np.array_equal(decode_png(torch.frombuffer(bytearray(after), dtype=torch.uint8)).numpy(),
                              decode_png(torch.frombuffer(bytearray(before), dtype=torch.uint8)).numpy())


@pytest.mark.parametrize("difference", DIFFERENCES)
def test_padding_is_as_small_as_a_chunk_allows(difference):
    short, long = gray_row_png(50), gray_row_png(50 + difference)
    padded = pad_to_equal_length([long, short])
    if difference == 0:
        assert padded == [long, short]  # nothing to hide, nothing added
    elif difference < 12:  # no chunk is that small: both grow, the longer by an empty chunk
        assert len(padded[0]) == len(long) + 12
    else:
        assert padded[0] == long and len(padded[1]) == len(long)


def test_real_overlays_of_smooth_and_noisy_maps_end_equal_and_decode_unchanged():
    torch.manual_seed(0)
    smooth = torch.linspace(0, 255, 64).round().to(torch.uint8).expand(3, 64, 64)
    noisy = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
    blobs = encode_batch(torch.stack([smooth, noisy]))
    assert len(blobs[0]) < len(blobs[1])
    padded = pad_to_equal_length(blobs)
    assert len(padded[0]) == len(padded[1])
    for image, data in zip((smooth, noisy), padded):
        assert_well_formed_png(data)
        assert torch.equal(decode_png(torch.frombuffer(bytearray(data), dtype=torch.uint8)), image)


def test_webapp_keeps_the_padding_when_it_strips_metadata():
    padded = pad_to_equal_length([gray_row_png(50), gray_row_png(90)])
    assert any(kind == b"cpAd" for kind, _, _ in png_chunks(padded[0]))
    stripped = [strip_png_metadata(p) for p in padded]
    assert stripped == padded


def jpeg_with_comment(length: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 10)).save(buf, "JPEG", quality=90, comment=b"x" * length)
    return buf.getvalue()


@pytest.mark.parametrize("difference", [0, 1, 3, 4, 5, 40])
def test_jpeg_pair_ends_equal_in_length_with_the_same_pixels(difference):
    short, long = jpeg_with_comment(10), jpeg_with_comment(10 + difference)
    assert len(long) - len(short) == difference
    padded = pad_to_equal_length([short, long])
    assert len(padded[0]) == len(padded[1])
    for before, after in zip((short, long), padded):
        assert after[:4] == before[:4]  # the JFIF header stays right after SOI
        assert np.array_equal(pixels(before), pixels(after))


def test_jpeg_difference_larger_than_one_segment():
    noise = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "JPEG", quality=95)
    big, small = buf.getvalue(), jpeg_with_comment(0)
    assert len(big) - len(small) > 2 * 65537
    padded = pad_to_equal_length([small, big])
    assert padded[1] == big and len(padded[0]) == len(big)
    assert np.array_equal(pixels(padded[0]), pixels(small))


DEMO = demo_study_toml("t-padding", images=16) + """[pairs]
n = 10
attention_checks = 3
[render]
format = "{fmt}"
[output]
dir = "out"
"""


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_every_generated_pair_has_sides_of_equal_length_and_true_hashes(tmp_path: Path, fmt):
    config = tmp_path / "study.toml"
    config.write_text(DEMO.format(fmt=fmt))
    torch.manual_seed(0)
    manifest = generate(config)
    pairs = manifest["pairs"]
    assert sum(p["is_attention_check"] for p in pairs) == 3 and len(pairs) == 13
    for pair in pairs:
        data = {side: (tmp_path / "out" / entry["file"]).read_bytes() for side, entry in pair["sides"].items()}
        assert len(data["A"]) == len(data["B"]), pair["pair_id"]
        for side, entry in pair["sides"].items():
            assert hashlib.sha256(data[side]).hexdigest() == entry["sha256"]
        if fmt == "png":
            assert len(strip_png_metadata(data["A"])) == len(strip_png_metadata(data["B"]))

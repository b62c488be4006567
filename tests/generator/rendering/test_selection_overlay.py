"""Side balance, opaque names, rendering and encoding: the pieces under the generator."""
from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from generator.inputs.images import ImageRecord
from generator.rendering import attention, overlay, selection
from generator.rendering.encode import encode_batch


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("counts", [(10, 10, 10), (7, 3, 1, 9), (1,), (5, 6)])
def test_sides_are_balanced_overall_and_within_each_class(seed, counts):
    classes = [c for c, n in enumerate(counts) for _ in range(n)]
    first_a = selection.assign_first_side(classes, seed)
    assert abs(2 * sum(first_a) - len(classes)) <= 1
    for c in set(classes):
        mine = [a for a, k in zip(first_a, classes) if k == c]
        assert abs(2 * sum(mine) - len(mine)) <= 1


def test_side_assignment_is_reproducible_and_seed_dependent():
    classes = [i % 4 for i in range(40)]
    assert selection.assign_first_side(classes, 3) == selection.assign_first_side(classes, 3)
    assert selection.assign_first_side(classes, 3) != selection.assign_first_side(classes, 4)


def test_stratified_order_takes_classes_in_turn():
    records = [ImageRecord(f"img{i}", f"img{i}.png", (i % 3,)) for i in range(30)]
    jobs = selection.ground_truth_jobs(records)
    first = list(selection.stratified_order(jobs, seed=1))[:9]
    assert Counter(j.class_index for j in first) == {0: 3, 1: 3, 2: 3}
    assert len(set(selection.stratified_order(jobs, 1))) == 30


def test_opaque_tokens_are_stable_and_reveal_nothing():
    a = selection.opaque_token(0, "study", "img_cat_1", 3, "hirescam")
    assert a == selection.opaque_token(0, "study", "img_cat_1", 3, "hirescam")
    assert a != selection.opaque_token(1, "study", "img_cat_1", 3, "hirescam")
    assert a.isalnum() and len(a) == 20
    for word in ("hires", "grad", "cam", "cat", "img", "study"):
        assert word not in a.lower()


def test_relu_normalize_and_upsample():
    maps = torch.tensor([[[-1.0, 0.0], [1.0, 3.0]], [[0.0, 0.0], [0.0, 0.0]]])
    out = overlay.relu_normalize(maps)
    torch.testing.assert_close(out[0], torch.tensor([[0.0, 0.0], [1 / 3, 1.0]]))
    assert out[1].abs().sum() == 0  # an all-zero map stays zero instead of dividing by zero
    up = overlay.upsample(out, 8, 8)
    assert up.shape == (2, 8, 8) and 0 <= up.min() and up.max() <= 1


def test_colormap_table_ends():
    jet = overlay.colormap("jet")
    assert jet.shape == (256, 3) and jet.dtype == torch.uint8
    colours = overlay.apply_colormap(torch.tensor([[[0.0, 1.0]]]), jet)
    assert colours[0, :, 0, 0].tolist() == jet[0].tolist()  # dark blue
    assert colours[0, :, 0, 1].tolist() == jet[255].tolist()  # dark red
    with pytest.raises(Exception, match="unknown colormap 'jett'"):
        overlay.colormap("jett")


def test_blend_is_alpha_weighted():
    image = torch.full((1, 3, 2, 2), 100, dtype=torch.uint8)
    heat = torch.full((1, 3, 2, 2), 200, dtype=torch.uint8)
    assert overlay.blend(image, heat, 0.5).unique().tolist() == [150]
    assert overlay.blend(image, heat, 0.0).unique().tolist() == [100]


def test_metrics_of_a_known_map():
    m = torch.zeros(1, 10, 10)
    m[0, 2:4, 6:8] = 1.0  # a 2×2 square: 4% of pixels, uniform mass, centred at (0.7, 0.3)
    (metrics,) = overlay.map_metrics(m)
    assert metrics["area_above_half"] == pytest.approx(0.04)
    assert metrics["entropy"] == pytest.approx(2.0)  # log2 of 4 equal cells
    assert metrics["centroid"] == pytest.approx([0.7, 0.3])


def test_png_has_no_metadata_and_the_right_size():
    imgs = torch.randint(0, 255, (2, 3, 20, 30), dtype=torch.uint8)
    for data in encode_batch(imgs, "png"):
        im = Image.open(io.BytesIO(data))
        assert im.size == (30, 20) and im.mode == "RGB" and im.info == {}
        chunks = chunk_types(data)
        assert set(chunks) <= {b"IHDR", b"IDAT", b"IEND"}, chunks
    decoded = np.array(Image.open(io.BytesIO(encode_batch(imgs[:1], "png")[0])))
    assert (torch.from_numpy(decoded).permute(2, 0, 1) == imgs[0]).all()  # lossless


def chunk_types(png: bytes) -> list[bytes]:
    pos, types = 8, []
    while pos < len(png):
        length = int.from_bytes(png[pos : pos + 4], "big")
        types.append(png[pos + 4 : pos + 8])
        pos += 12 + length
    return types


def test_jpeg_encoding_on_cpu():
    (data,) = encode_batch(torch.zeros(1, 3, 16, 16, dtype=torch.uint8), "jpeg")
    assert Image.open(io.BytesIO(data)).format == "JPEG"


def test_catch_maps_differ_in_area():
    broad, focal = attention.catch_maps(np.random.default_rng(0))
    assert (broad > 0.5).float().mean() > 5 * (focal > 0.5).float().mean()
    assert attention.expected_answers("A") == {"larger": "A", "focused": "B"}

"""Preprocess: the display image is exactly the crop the model sees."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from generator.inputs.preprocess import Preprocess


def _photo(w=300, h=200, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8))


def test_display_is_uint8_crop():
    d = Preprocess().display(_photo())
    assert d.dtype == torch.uint8 and d.shape == (3, 224, 224)


def test_model_input_is_normalize_of_display():
    pp = Preprocess(resize=128, crop=112)
    img = _photo()
    reference = v2.Compose([
        v2.PILToTensor(), v2.Resize(128, antialias=True), v2.CenterCrop(112),
        v2.ToDtype(torch.float32, scale=True), v2.Normalize(pp.mean, pp.std),
    ])(img)
    got = pp.normalize(pp.display(img)[None])[0]
    assert torch.allclose(got, reference, atol=1e-6)
    assert pp.display(img).equal(v2.Compose([v2.PILToTensor(), v2.Resize(128, antialias=True),
                                             v2.CenterCrop(112)])(img))


def test_normalize_keeps_device_and_batch():
    batch = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    out = Preprocess(crop=16).normalize(batch)
    assert out.dtype == torch.float32 and out.shape == batch.shape and out.device == batch.device
    with pytest.raises(ValueError, match="uint8"):
        Preprocess().normalize(batch.float())


def test_crop_mask_aligns_with_display():
    pp = Preprocess(resize=100, crop=80)
    arr = np.zeros((150, 250, 3), np.uint8)
    mask = np.zeros((150, 250), bool)
    mask[40:110, 90:170] = True  # a white block, off-centre
    arr[mask] = 255
    shown = pp.display(Image.fromarray(arr))[0].numpy() > 127
    cropped = pp.crop_mask(mask)
    assert cropped.shape == (80, 80) and cropped.dtype == bool
    disagree = (shown != cropped).sum()
    assert disagree <= 2 * 80  # at most the one-pixel rim of the block's resampled edge
    assert (shown & cropped).sum() > 0.9 * cropped.sum()


def test_no_resize_crops_centre():
    img = Image.fromarray(np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3))
    d = Preprocess(resize=None, crop=32).display(img)
    assert d.equal(torch.from_numpy(np.array(img)[16:48, 16:48]).permute(2, 0, 1))


def test_bad_settings():
    with pytest.raises(ValueError, match="crop"):
        Preprocess(crop=0)

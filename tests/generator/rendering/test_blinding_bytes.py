"""Byte-level blinding, attacked: a script that never looks at pixels reads every feature
of the files a participant can fetch (length, chunk list, IDAT and stream lengths,
padding, filter bytes, ...) and tries each as the rule "the side with the larger (or the
layout-X) value is Grad-CAM". Under blinding every rule is at chance, 50% within 3
standard errors, over 100+ generated pairs and 10+ attention checks ("the side with X is
the focused one"); through the running app as well as on disk.

The attack is shown to bite: the same overlays in ordinary compressed PNGs (what the
generator wrote before, padded or not) are sorted far above chance.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.io import decode_png

from generator.rendering import overlay as render
from camstudy.layoutfree import size as stimulus_size
from generator.rendering.encode import encode_batch, encode_stimuli
from tests import blinding_attack as attack


def read_from(root: Path):
    return lambda side: (root / side["file"]).read_bytes()


def test_no_byte_feature_of_the_files_tells_the_methods_apart(blind_study):
    root, manifest = blind_study
    best_pairs, best_checks = attack.manifest_attack(manifest, read_from(root))
    assert best_pairs.n >= 100 and best_checks.n >= 10
    assert not best_pairs.beats_chance, f"{best_pairs.description} finds Grad-CAM in {best_pairs.accuracy:.0%}"
    assert not best_checks.beats_chance, f"{best_checks.description} finds the focused side in {best_checks.accuracy:.0%}"


def test_every_stimulus_has_one_length_and_one_layout(blind_study):
    root, manifest = blind_study
    files = [read_from(root)(p["sides"][s]) for p in manifest["pairs"] for s in "AB"]
    features = [attack.byte_features(f) for f in files]
    size = manifest["render"]["width"]
    assert {len(f) for f in files} == {stimulus_size(size, size)}
    for name in ("layout", "idat_count", "idat_last", "stream_length", "stored_blocks", "filter_0_rows"):
        assert len({f[name] for f in features}) == 1, name
    assert features[0]["filter_0_rows"] == size  # every row unfiltered


def test_the_attack_finds_the_leak_of_compressed_files(blind_study):
    """The same overlays as ordinary compressed PNGs: the rule must find Grad-CAM, else the
    attack could not fail and the tests above would prove nothing."""
    root, manifest = blind_study
    recompressed = {}
    for pair in manifest["pairs"]:
        for side in pair["sides"].values():
            pixels = decode_png(torch.frombuffer(bytearray(read_from(root)(side)), dtype=torch.uint8))
            recompressed[side["file"]] = encode_batch(pixels[None], "png")[0]
    best_pairs, best_checks = attack.manifest_attack(manifest, lambda side: recompressed[side["file"]])
    assert best_pairs.beats_chance and best_checks.beats_chance


def test_stimuli_decode_to_the_rendered_pixels_in_every_reader():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (3, 3, 17, 23), dtype=torch.uint8, generator=g)
    images[1] = 7  # flat: compresses to nothing in an ordinary PNG
    files = encode_stimuli(images)
    assert len({len(f) for f in files}) == 1
    for image, data in zip(images, files):
        assert torch.equal(decode_png(torch.frombuffer(bytearray(data), dtype=torch.uint8)), image)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), image.permute(1, 2, 0).numpy())


def test_sides_are_saved_in_name_order_so_times_follow_no_method(blind_study):
    root, manifest = blind_study
    real = [p for p in manifest["pairs"] if not p["is_attention_check"]]
    earlier_is_gradcam = 0
    for pair in real:
        by_method = {s["method"]: (root / s["file"]).stat().st_mtime_ns for s in pair["sides"].values()}
        earlier_is_gradcam += by_method["gradcam"] < by_method["hirescam"]
    share = earlier_is_gradcam / len(real)
    assert abs(share - 0.5) <= 3 * (0.25 / len(real)) ** 0.5 or len({
        (root / s["file"]).stat().st_mtime_ns for p in real for s in p["sides"].values()}) == 1


def test_raw_maps_rerender_every_stimulus_byte_for_byte(blind_study):
    """raw_maps.npz is enough to audit: ReLU, normalisation, upsampling, colormap and blend of
    the kept raw map over the original give exactly the served file."""
    root, manifest = blind_study
    assert manifest["raw_maps"] == "raw_maps.npz"
    real = [p for p in manifest["pairs"] if not p["is_attention_check"]]
    with np.load(root / "raw_maps.npz") as raw:
        assert {k.split("/")[0] for k in raw.files} == {p["pair_id"] for p in real} | {
            v["pair_id"] for v in manifest["void_pairs"]}
        size = manifest["render"]["width"]
        table = render.colormap(manifest["render"]["colormap"])
        for pair in real[:10]:
            original = decode_png(torch.frombuffer(bytearray(read_from(root)(pair["original"])), dtype=torch.uint8))
            assert raw[f"{pair['pair_id']}/logits"].shape == (len(manifest["model"]["class_names"]),)
            for side in pair["sides"].values():
                maps01 = render.upsample(render.relu_normalize(torch.from_numpy(raw[f"{pair['pair_id']}/{side['method']}"])[None]), size, size)
                overlay = render.blend(original[None], render.apply_colormap(maps01, table), manifest["render"]["alpha"])
                (data,) = encode_stimuli(overlay)
                assert hashlib.sha256(data).hexdigest() == side["sha256"]


def test_raw_hirescam_maps_sum_to_the_logit_minus_the_bias(blind_study):
    """The kept maps are the model's own: on the demo CNN's flatten head, HiResCAM sums to
    the class logit minus the class bias (the paper's identity)."""
    from generator.rendering.run import prepare_run

    root, manifest = blind_study
    torch.manual_seed(0)
    run, _, _ = prepare_run(root.parent / "study.toml", local_only=True)
    head = [m for m in run.setup.model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with np.load(root / "raw_maps.npz") as raw:
        for pair in [p for p in manifest["pairs"] if not p["is_attention_check"]][:10]:
            c = pair["class_index"]
            total = float(raw[f"{pair['pair_id']}/hirescam"].sum())
            logit = float(raw[f"{pair['pair_id']}/logits"][c])
            assert total == pytest.approx(logit - float(head.bias[c].detach()), rel=1e-4, abs=1e-4)
            assert logit == pytest.approx(pair["logit"], abs=1e-5)

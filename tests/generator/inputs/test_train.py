"""`camstudy train`: demo training, fine-tuning, checkpoints, determinism."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from generator.cli import train_main as main
from generator.engine.models import describe, load_model
from generator.inputs.demo_data import DEMO_CLASSES
from generator.inputs.images import demo_source
from generator.inputs.preprocess import demo_preprocess
from generator.inputs.train import average_precision, train_demo_model
from tests.generator.helpers import write_labelled_images

TINY = dict(n_train=48, n_test=16, progress=False)


def _state_hash(path) -> str:
    state = torch.load(path, weights_only=True)["state_dict"]
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(name.encode() + tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def test_tiny_run_writes_a_loadable_checkpoint(tmp_path):
    path = tmp_path / "demo.pt"
    metrics = train_demo_model(path, seed=0, epochs=1, **TINY)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["arch"] == "demo_cnn" and ckpt["head"] == "flatten"
    assert ckpt["class_names"] == DEMO_CLASSES and ckpt["num_classes"] == 5 and ckpt["input_size"] == 128
    assert ckpt["seed"] == 0 and ckpt["metrics"]["images"] == 16 and set(ckpt["metrics"]["per_class"]) == set(DEMO_CLASSES)
    assert ckpt["preprocess"] == demo_preprocess(128).to_dict() and metrics["epochs"] == 1
    assert ckpt["probability"] == "sigmoid"  # multi-label: the manifest reports sigmoids, not a softmax
    model = load_model("demo_cnn", weights=path, num_classes=ckpt["num_classes"], input_size=ckpt["input_size"])
    assert model(torch.zeros(1, 3, 128, 128)).shape == (1, 5)


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    hashes = [_state_hash(train_demo_model(tmp_path / f"{i}.pt", seed=s, epochs=1, **TINY) and tmp_path / f"{i}.pt")
              for i, s in enumerate([7, 7, 8])]
    assert hashes[0] == hashes[1] != hashes[2]


def test_training_restores_torch_settings(tmp_path):
    threads = torch.get_num_threads()
    train_demo_model(tmp_path / "d.pt", seed=0, epochs=1, threads=1, **TINY)
    assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()


def test_average_precision():
    assert average_precision(np.array([0.9, 0.8, 0.1]), np.array([1, 1, 0])) == 1.0
    assert average_precision(np.array([0.9, 0.8, 0.1]), np.array([0, 1, 1])) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_finetune_a_torchvision_model_on_a_folder(tmp_path, capsys):
    write_labelled_images(tmp_path, tmp_path / "labels.csv", ["blue", "red"] * 5, (40, 40), broken=("broken.png", "red"))
    out = tmp_path / "r18.pt"
    rc = main(["--arch", "resnet18", "--head", "flatten", "--images", str(tmp_path), "--csv",
               str(tmp_path / "labels.csv"), "--resize", "40", "--crop", "32", "--epochs", "1",
               "--batch-size", "4", "--out", str(out), "--quiet"])
    assert rc == 0 and "wrote" in capsys.readouterr().out
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["class_names"] == ["blue", "red"] and ckpt["metrics"]["skipped"] == 1
    model = load_model("resnet18", weights=out, num_classes=2, head="flatten", input_size=32)
    assert describe(model)["parameters"] > 1e6


def test_cli_needs_images_for_arch(tmp_path, capsys):
    assert main(["--arch", "resnet18", "--out", str(tmp_path / "m.pt")]) == 2
    assert "--images DIR --csv" in capsys.readouterr().err


@pytest.mark.slow
def test_default_demo_training_learns_the_shapes(trained_demo_model):
    """The default `camstudy train --demo` (the shared checkpoint)."""
    path, metrics = trained_demo_model
    assert metrics["mAP"] >= 0.95 and metrics["accuracy"] >= 0.95
    # and the model finds the objects: HiResCAM peaks on the explained object
    from generator.engine.cams import compute_cams

    model = load_model("demo_cnn", weights=path, num_classes=5, input_size=128)
    source, pp = demo_source(n=40, seed=0), demo_preprocess(128)
    hits, total = 0, 0
    for record in source.records:
        k = record.classes[0]
        image = pp.normalize(pp.display(source.load(record))[None])
        cam = compute_cams(model, image, [k], methods=["hirescam"]).maps["hirescam"][0].clamp_min(0)
        peak = np.unravel_index(int(cam.argmax()), cam.shape)
        mask = pp.crop_mask(source.object_mask(record, k))
        cell = mask.reshape(16, 8, 16, 8).any(axis=(1, 3))  # which 8×8 cells the object touches
        hits += bool(cell[peak])
        total += 1
    assert hits / total >= 0.8


def test_make_demo_retrains_a_model_of_an_older_demo(tmp_path):
    """Same parameter shapes, other scenes: `make demo` must not reuse an older demo model."""
    from generator import demo_model_usable as usable

    path = tmp_path / "demo.pt"
    train_demo_model(path, seed=0, epochs=1, **TINY)
    assert usable(path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["demo_version"] -= 1
    torch.save(ckpt, path)
    assert not usable(path)
    del ckpt["demo_version"]
    torch.save(ckpt, path)
    assert not usable(path)

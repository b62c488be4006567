"""Model loading: architectures, heads, checkpoints, default target layers, errors."""
from __future__ import annotations

import urllib.request

import pytest
import torch

from generator.engine.layers import default_target_layer
from generator.engine.models import describe, load_model
from generator.errors import ModelLoadError


def test_default_target_layers():
    assert default_target_layer(load_model("resnet18", num_classes=3), 64) == "layer4"
    assert default_target_layer(load_model("resnet18", num_classes=3, head="flatten", input_size=64), 64) == "features"
    assert default_target_layer(load_model("densenet121", num_classes=3), 64) == "features"


def test_flatten_head_is_one_linear_on_the_flattened_map():
    model = load_model("resnet18", num_classes=5, head="flatten", input_size=64)
    assert model.fc.in_features == 512 * 2 * 2 and model.fc.out_features == 5
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 5)


def test_state_dict_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = load_model("resnet18", num_classes=4, head="flatten", input_size=64)
    path = tmp_path / "model.pt"
    torch.save({"state_dict": model.state_dict()}, path)
    again = load_model("resnet18", weights=path, num_classes=4, head="flatten", input_size=64)
    assert describe(again)["sha256"] == describe(model)["sha256"]


def test_whole_model_checkpoint(tmp_path):
    model = load_model("resnet18", num_classes=4)
    path = tmp_path / "whole.pth"
    torch.save(model, path)
    assert describe(load_model("resnet18", weights=path))["sha256"] == describe(model)["sha256"]


def test_unknown_architecture():
    with pytest.raises(ModelLoadError, match="unknown torchvision architecture 'resnet19'.*resnet18"):
        load_model("resnet19")


def test_missing_checkpoint(tmp_path):
    with pytest.raises(ModelLoadError, match="checkpoint not found: .*nope.pt"):
        load_model("resnet18", weights=tmp_path / "nope.pt")


def test_mismatched_checkpoint(tmp_path):
    path = tmp_path / "r18.pt"
    torch.save(load_model("resnet18", num_classes=4).state_dict(), path)
    with pytest.raises(ModelLoadError, match="does not match the model"):
        load_model("resnet18", weights=path, num_classes=10)


def test_corrupt_checkpoint(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError, match="cannot read checkpoint"):
        load_model("resnet18", weights=path)


def test_pretrained_weights_offline_fail_clearly(tmp_path, monkeypatch):
    # An empty cache and a proxy that refuses connections: the real download path fails fast.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    # urlopen caches a global opener with the proxies it saw; restore it after this test.
    monkeypatch.setattr(urllib.request, "_opener", None)
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    with pytest.raises(ModelLoadError, match="could not fetch pretrained weights 'DEFAULT' for 'resnet18'"):
        load_model("resnet18", weights="DEFAULT")


def test_bad_head():
    with pytest.raises(ModelLoadError, match="head must be one of"):
        load_model("resnet18", head="pool")


def test_arbitrary_module_is_accepted():
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(2))
    module(torch.zeros(1, 3, 8, 8))
    assert load_model(module) is module

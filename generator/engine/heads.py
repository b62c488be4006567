"""Classifier heads: ``"gap"`` keeps a torchvision architecture's own global-pooling head,
``"flatten"`` is the HiResCAM paper's "v" design (global pooling removed, one linear layer
on the flattened last feature map), for which HiResCAM provably shows exactly the locations
the model used. Also used by the demo CNN (generator/inputs/demo_model.py) and by the
faithfulness ground truth (generator/evaluation/faithfulness.py)."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from generator.errors import ModelLoadError

HEADS = ("gap", "flatten")


class FlattenHeadNet(nn.Module):
    """A feature extractor followed by Flatten and one Linear layer (the "v" models)."""

    def __init__(self, features: nn.Module, feature_shape: tuple[int, int, int], num_classes: int,
                 input_size: int) -> None:
        super().__init__()
        self.features = features
        self.flatten = nn.Flatten(1)
        c, h, w = feature_shape
        self.fc = nn.Linear(c * h * w, num_classes)
        self.input_size = input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.features(x)))


def replace_classifier(model: nn.Module, num_classes: int) -> None:
    """Give a GAP-head torchvision model a fresh final Linear with ``num_classes`` outputs."""
    for attr in ("fc", "classifier", "head", "heads"):
        head = getattr(model, attr, None)
        if isinstance(head, nn.Linear):
            setattr(model, attr, nn.Linear(head.in_features, num_classes))
            return
        if isinstance(head, nn.Sequential):
            for idx in range(len(head) - 1, -1, -1):
                if isinstance(head[idx], nn.Linear):
                    head[idx] = nn.Linear(head[idx].in_features, num_classes)
                    return
    raise ModelLoadError(f"cannot find the final linear layer of {type(model).__name__} to resize")


def _feature_extractor(model: nn.Module, arch: str) -> nn.Module:
    """The part of a torchvision classifier that ends in the last 4-D feature map."""
    if isinstance(getattr(model, "features", None), nn.Module):
        if type(model).__name__ == "DenseNet":  # its forward applies relu after features
            return nn.Sequential(OrderedDict(body=model.features, relu=nn.ReLU()))
        return model.features
    if hasattr(model, "avgpool") and hasattr(model, "fc"):  # ResNet, ResNeXt, RegNet, ...
        children = OrderedDict()
        for name, child in model.named_children():
            if name == "avgpool":
                break
            children[name] = child
        return nn.Sequential(children)
    raise ModelLoadError(
        f"head='flatten' is not supported for {arch!r}: no `features` module and no "
        "avgpool/fc pair found; pass your own nn.Module instead"
    )


def to_flatten_head(model: nn.Module, arch: str, num_classes: int, input_size: int) -> FlattenHeadNet:
    features = _feature_extractor(model, arch)
    features.eval()
    with torch.no_grad():
        out = features(torch.zeros(1, 3, input_size, input_size))
    if out.dim() != 4:
        raise ModelLoadError(f"the feature extractor of {arch!r} returned shape {tuple(out.shape)}, not 4-D")
    return FlattenHeadNet(features, tuple(out.shape[1:]), num_classes, input_size)


def num_outputs(model: nn.Module) -> int:
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not last:
        raise ModelLoadError(f"{type(model).__name__} has no Linear layer")
    return last[-1].out_features

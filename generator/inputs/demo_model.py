"""The demo CNN: a small conv stack with a flatten head (the HiResCAM paper's "v" design).

Three stride-2 convolutions take the 128 px scene to a 16×16 feature map (fine, like
the paper's 448 px "v" models' 14×14) and two more convolutions mix it at that resolution; a stride-1 average pool ends the feature
stack, so each location's features describe its neighbourhood (smooth activations,
as deep networks' large receptive fields give). One linear layer reads the flattened
map: its weights are location-specific. Training starts it at zero (``zero_head``), so
a location that never carries evidence about the label keeps (almost) no weight.

On the demo scenes (generator/inputs/demo_data.py) the label is the shape in the middle,
so the trained head reads the middle. The convolutions are shared across locations:
the same channels fire on clutter of the labelled shape. HiResCAM (gradient times
activation per location) shows the middle; Grad-CAM averages each channel's gradient
over the map and spreads importance to every place where those channels fire. That
difference comes from the trained model alone (docs/generator-inputs.md).
"""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

from generator.engine.heads import FlattenHeadNet

WIDTHS = (16, 32, 64, 64, 64)
STRIDES = (2, 2, 2, 1, 1)
POOL = 5          # the final average pool's window (stride 1)
# Bumped whenever the demo CNN or its scenes change, so `make demo` retrains an older model.
DEMO_VERSION = 2


def _conv(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


def build_demo_cnn(num_classes: int = 5, input_size: int = 128) -> nn.Module:
    """A FlattenHeadNet whose ``features`` ends in a C×(input_size/8)×(input_size/8) map."""
    if input_size % 8 or input_size < 16:
        raise ValueError(f"the demo CNN needs an input size that is a multiple of 8 and >= 16, got {input_size}")
    layers = OrderedDict()
    cin = 3
    for i, (cout, stride) in enumerate(zip(WIDTHS, STRIDES), start=1):
        layers[f"conv{i}"], layers[f"bn{i}"], layers[f"relu{i}"] = _conv(cin, cout, stride)
        cin = cout
    layers["pool"] = nn.AvgPool2d(POOL, stride=1, padding=POOL // 2, count_include_pad=False)
    side = input_size // 8
    return FlattenHeadNet(nn.Sequential(layers), (WIDTHS[-1], side, side), num_classes, input_size)


def zero_head(model: FlattenHeadNet) -> FlattenHeadNet:
    """Start training from a zero head: a location only gets weight from evidence found there.

    (An untrained demo CNN keeps PyTorch's random head, so its maps are not all zero.)
    """
    nn.init.zeros_(model.fc.weight)
    nn.init.zeros_(model.fc.bias)
    return model

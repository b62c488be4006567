"""The demo CNN: a small conv stack with a flatten head (the HiResCAM paper's "v" design).

Three stride-2 convolutions take a 96 px input to a 12×12 feature map, fine enough
for the two methods to differ visibly, and a fourth convolution mixes it at that
resolution. Strided convolutions rather than pooling keep the full-resolution work
small: the network trains on two CPU cores in well under a minute
(``camstudy train --demo``).
"""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

from generator.models import FlattenHeadNet

WIDTHS = (16, 32, 64, 64, 64)
STRIDES = (2, 2, 2, 1, 1)


def _conv(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


def build_demo_cnn(num_classes: int = 5, input_size: int = 96) -> nn.Module:
    """A FlattenHeadNet whose ``features`` ends in a C×(input_size/8)×(input_size/8) map."""
    if input_size % 8 or input_size < 16:
        raise ValueError(f"the demo CNN needs an input size that is a multiple of 8 and >= 16, got {input_size}")
    layers = OrderedDict()
    cin = 3
    for i, (cout, stride) in enumerate(zip(WIDTHS, STRIDES), start=1):
        layers[f"conv{i}"], layers[f"bn{i}"], layers[f"relu{i}"] = _conv(cin, cout, stride)
        cin = cout
    side = input_size // 8
    return FlattenHeadNet(nn.Sequential(layers), (WIDTHS[-1], side, side), num_classes, input_size)

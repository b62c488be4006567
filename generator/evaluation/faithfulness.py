"""Ground truth for heads that are one linear layer on the flattened target feature map.

For such a head the class score is ``logit_c = sum_{k,i,j} W[c, k, i, j] · A[k, i, j] + b_c``,
so the contribution of location (i, j) is exactly ``sum_k W[c, k, i, j] · A[k, i, j]``:
the ground-truth map of the locations the model used. It is computed here from the
linear layer's weights and the activation seen by a forward hook, independently of
the CAM methods (HiResCAM equals it on such heads, which is the point being tested).

Whether a model has such a head is checked on every batch, in the same forward
pass that computes the CAMs: the linear layer's input must be the target
activation flattened and its output must be the logits. Any other head (global
pooling, several layers) gets a reason instead of a ground truth.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from generator.errors import CamStudyError
from generator.engine.heads import FlattenHeadNet
from generator.engine.layers import resolve_layer


@dataclass
class HeadCapture:
    """What one forward pass showed: the target activation and the linear layer's in/out."""

    activation: torch.Tensor | None = None
    linear_in: torch.Tensor | None = None
    linear_out: torch.Tensor | None = None


def candidate_linear(model: nn.Module, target_layer: str, declared: str = "") -> tuple[str, nn.Linear] | None:
    """The linear layer that may be the head: declared, a FlattenHeadNet's fc, or the last Linear."""
    modules = dict(model.named_modules())
    if declared:
        layer = modules.get(declared)
        if not isinstance(layer, nn.Linear):
            raise CamStudyError(f"[evaluation] linear_head = {declared!r} is not an nn.Linear in "
                                f"{type(model).__name__}; linear layers: "
                                f"{[n for n, m in modules.items() if isinstance(m, nn.Linear)]}")
        return declared, layer
    if isinstance(model, FlattenHeadNet) and modules.get(target_layer) is model.features:
        return "fc", model.fc
    linears = [(n, m) for n, m in modules.items() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


@contextmanager
def capture_head(model: nn.Module, target_layer: str, linear: nn.Linear | None):
    """Hooks that record the target activation and the linear layer's input and output.

    Registered before compute_cams adds its own hook, so they see the layer's
    original output; nothing is modified and nothing is copied off the device.
    """
    seen = HeadCapture()

    def on_target(module, inputs, output):
        seen.activation = output.detach()

    def on_linear(module, inputs, output):
        seen.linear_in, seen.linear_out = inputs[0].detach(), output.detach()

    handles = [resolve_layer(model, target_layer).register_forward_hook(on_target)]
    if linear is not None:
        handles.append(linear.register_forward_hook(on_linear))
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    scale = max(float(b.abs().amax()), 1.0)
    return a.shape == b.shape and bool((a.float() - b.float()).abs().amax() <= 1e-4 * scale)


def head_reason(seen: HeadCapture, logits: torch.Tensor, name: str | None) -> str | None:
    """None if the head is one linear layer on the flattened activation, else why not."""
    if name is None:
        return "the model has no linear layer, so there is no linear head to read contributions from"
    act = seen.activation
    if seen.linear_in is None:
        return f"the linear layer {name!r} did not run in the forward pass"
    flat = act.flatten(1)
    if seen.linear_in.shape != flat.shape:
        k, h, w = act.shape[1:]
        return (f"the head is not one linear layer on the flattened target map: {name!r} takes "
                f"{seen.linear_in.shape[1]} inputs while the target map holds {k}×{h}×{w} = {k * h * w} "
                "values (global pooling or further layers come between them), so the contribution "
                "of each location to the score is not defined")
    if not _close(seen.linear_in, flat):
        return (f"the input of {name!r} is not the target map itself (a non-linear or further layer "
                "comes between them), so the contribution of each location is not defined")
    if not _close(seen.linear_out, logits):
        return f"the output of {name!r} is not the model's logits (further layers follow it)"
    return None


def ground_truth(linear: nn.Linear, activation: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """B×h×w: per location, the sum over channels of the class's weight times the activation."""
    weights = linear.weight.detach()[targets].view(activation.shape).to(activation.dtype)
    return (weights * activation).sum(dim=1)


def completeness_error(linear: nn.Linear, truth: torch.Tensor, logits: torch.Tensor,
                       targets: torch.Tensor) -> float:
    """max |sum of the ground-truth map + bias − logit|: ~0 when the head is what it seems."""
    bias = linear.bias.detach()[targets] if linear.bias is not None else 0
    score = logits.gather(1, targets[:, None])[:, 0]
    return float((truth.flatten(1).sum(1) + bias - score).abs().amax())


def rms_distance(a01: torch.Tensor, b01: torch.Tensor) -> torch.Tensor:
    """B floats: L2 distance between two normalised maps divided by sqrt(h·w) (0 to 1)."""
    return (a01.double() - b01.double()).pow(2).flatten(1).mean(1).sqrt()


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-D array, tied values sharing the mean of their ranks."""
    uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2.0)[inverse]


def spearman(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """Per map, Spearman's rank correlation (ties averaged); NaN when either map is constant."""
    out = []
    for x, y in zip(a.flatten(1).double().cpu().numpy(), b.flatten(1).double().cpu().numpy()):
        rx, ry = average_ranks(x) - (len(x) + 1) / 2, average_ranks(y) - (len(y) + 1) / 2
        denom = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
        out.append(float((rx * ry).sum() / denom) if denom > 0 else float("nan"))
    return out


@dataclass
class FaithfulnessTally:
    """Whether ground truth is defined for this model, and the largest completeness error seen."""

    linear_name: str | None = None
    reason: str | None = None
    max_completeness_error: float = 0.0
    batches: int = 0

    @property
    def defined(self) -> bool:
        return self.reason is None and self.batches > 0

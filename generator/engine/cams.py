"""The one-pass CAM engine.

One forward pass and one backward pass per batch, however many methods are asked
for. A forward hook on the target layer swaps its output for a detached leaf
tensor, so

* the backbone below the target layer runs without building an autograd graph
  (grad mode is switched on only once the hook fires), and
* ``torch.autograd.grad`` differentiates the class scores with respect to that
  leaf only: no parameter gradients, no backward below the target layer.

Every method is then a small pure function of the same ``(activations,
gradients)`` pair; see :data:`METHODS`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch
from torch import nn

from generator.errors import CamInputError, TargetLayerError
from generator.engine.layers import resolve_layer

CamMethod = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
METHODS: dict[str, CamMethod] = {}


def register(name: str) -> Callable[[CamMethod], CamMethod]:
    """Add a method ``(activations B×K×h×w, gradients B×K×h×w) -> B×h×w`` to the registry."""

    def wrap(fn: CamMethod) -> CamMethod:
        METHODS[name] = fn
        return fn

    return wrap


@register("gradcam")
def gradcam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM: each feature map weighted by its spatially averaged gradient."""
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    return (weights * activations).sum(dim=1)


@register("hirescam")
def hirescam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """HiResCAM: gradients times activations element-wise, summed over feature maps."""
    return (gradients * activations).sum(dim=1)


@register("cam")
def cam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """CAM (Zhou et al.): class weights times activations, for GAP + linear heads.

    Behind a global-average-pooling head the gradient at every location is the class
    weight divided by h·w, so the class weights are recovered as ``gradient · h·w``.
    Any other head gives spatially varying gradients, where CAM is undefined.
    """
    h, w = activations.shape[-2:]
    mean = gradients.mean(dim=(2, 3), keepdim=True)
    scale = gradients.abs().amax().clamp_min(torch.finfo(gradients.dtype).tiny)
    if (gradients - mean).abs().amax() > 1e-4 * scale:
        raise CamInputError(
            "method 'cam' needs a global-average-pooling head followed by one linear layer; "
            "this model's gradients vary across locations (use 'gradcam' or 'hirescam')"
        )
    return (mean * (h * w) * activations).sum(dim=1)


@dataclass(frozen=True)
class CamResult:
    """Raw maps (B×h×w, before ReLU and normalisation) per method, and the logits (B×K)."""

    maps: dict[str, torch.Tensor]
    logits: torch.Tensor
    targets: torch.Tensor

    def scores(self) -> torch.Tensor:
        """The explained class's logit for each image."""
        return self.logits.gather(1, self.targets[:, None])[:, 0]


class _Capture:
    """Forward hook: replace the target output by a leaf that requires grad."""

    def __init__(self) -> None:
        self.leaf: torch.Tensor | None = None

    def __call__(self, module: nn.Module, inputs, output):
        if not isinstance(output, torch.Tensor) or output.dim() != 4:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise TargetLayerError(f"the target layer's output must be a B×C×h×w tensor, got {shape}")
        if self.leaf is not None:
            raise TargetLayerError(
                "the target layer ran more than once in one forward pass (a shared module?); "
                "choose a layer that runs once"
            )
        torch.set_grad_enabled(True)  # from here on, build the graph: the head only
        self.leaf = output.detach().requires_grad_(True)
        # Clone so that an in-place op downstream (DenseNet's relu_) does not touch the leaf.
        return self.leaf.clone()


def _check_inputs(model: nn.Module, images: torch.Tensor, targets) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise CamInputError(f"images must be a B×C×H×W tensor, got {shape}")
    targets = torch.as_tensor(targets, dtype=torch.long).reshape(-1)
    if targets.numel() != images.shape[0]:
        raise CamInputError(
            f"need one target class per image: {images.shape[0]} images, {targets.numel()} targets"
        )
    return targets


def compute_cams(
    model: nn.Module,
    images: torch.Tensor,
    targets: Sequence[int] | torch.Tensor,
    target_layer: str | nn.Module | None = None,
    methods: Iterable[str] = ("gradcam", "hirescam"),
) -> CamResult:
    """Explain ``targets`` (one class index per image) with every method in one pass.

    Returns raw maps at feature resolution and the logits, on the model's device.
    The model is run in eval mode (its mode is restored afterwards), so results for an
    image do not depend on the rest of the batch.
    """
    methods = list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise CamInputError(f"unknown CAM method(s) {unknown}; known: {sorted(METHODS)}")
    targets = _check_inputs(model, images, targets)
    layer = resolve_layer(model, target_layer)
    param = next(model.parameters(), None)
    device = param.device if param is not None else images.device
    images, targets = images.to(device), targets.to(device)

    capture = _Capture()
    handle = layer.register_forward_hook(capture)
    was_training, grad_mode = model.training, torch.is_grad_enabled()
    model.eval()
    try:
        torch.set_grad_enabled(False)
        logits = model(images)
        if capture.leaf is None:
            raise TargetLayerError("the target layer did not run during the forward pass")
        if logits.dim() != 2:
            raise CamInputError(f"the model must return B×K logits, got shape {tuple(logits.shape)}")
        n_classes = logits.shape[1]
        if targets.min() < 0 or targets.max() >= n_classes:
            bad = targets[(targets < 0) | (targets >= n_classes)].tolist()
            raise CamInputError(f"target class index {bad} out of range for {n_classes} classes")
        score = logits.gather(1, targets[:, None]).sum()
        (gradients,) = torch.autograd.grad(score, capture.leaf)
    finally:
        handle.remove()
        torch.set_grad_enabled(grad_mode)
        model.train(was_training)

    activations = capture.leaf.detach()
    with torch.no_grad():
        maps = {m: METHODS[m](activations, gradients) for m in methods}
    return CamResult(maps=maps, logits=logits.detach(), targets=targets)

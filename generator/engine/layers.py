"""Finding the target layer: by module path, or the feature map that feeds the head."""
from __future__ import annotations

import torch
from torch import nn

from generator.errors import TargetLayerError

_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AvgPool2d, nn.MaxPool2d)


def feature_map_modules(model: nn.Module, input_size: int = 224) -> list[tuple[str, tuple[int, ...]]]:
    """Modules whose output is a 4-D feature map, in the order their forward finishes.

    Containers finish after their children, so for a given feature map the outermost
    module that produces it comes last. Global pooling (1×1 output) is left out: it is
    the head, not the feature map.
    """
    found: list[tuple[str, tuple[int, ...]]] = []
    handles = []
    for name, module in model.named_modules():
        if not name:
            continue

        def hook(mod, inputs, output, name=name):
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                if isinstance(mod, _POOLS) and output.shape[-2:] == (1, 1):
                    return
                found.append((name, tuple(output.shape)))

        handles.append(module.register_forward_hook(hook))
    param = next(model.parameters(), None)
    device = param.device if param is not None else "cpu"
    dtype = param.dtype if param is not None else torch.float32
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, input_size, input_size, device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return found


def default_target_layer(model: nn.Module, input_size: int = 224) -> str:
    """The last module whose output is the 4-D feature map feeding the head."""
    candidates = feature_map_modules(model, input_size)
    if not candidates:
        raise TargetLayerError("the model has no module with a 4-D (B×C×h×w) output to explain")
    return candidates[-1][0]


def resolve_layer(model: nn.Module, target_layer: str | nn.Module | None) -> nn.Module:
    """The module for a dotted path such as ``"layer4"`` or ``"features.denseblock4"``."""
    if isinstance(target_layer, nn.Module):
        return target_layer
    input_size = getattr(model, "input_size", 224)
    if target_layer is None:
        target_layer = default_target_layer(model, input_size)
    modules = dict(model.named_modules())
    if target_layer in modules and target_layer:
        return modules[target_layer]
    try:
        candidates = [name for name, _ in feature_map_modules(model, input_size)]
    except Exception:  # noqa: BLE001 - listing is a courtesy; never hide the real error
        candidates = [name for name in modules if name]
    shown = ", ".join(candidates[-25:])
    more = f" (last 25 of {len(candidates)})" if len(candidates) > 25 else ""
    raise TargetLayerError(
        f"no layer named {target_layer!r} in {type(model).__name__}; "
        f"layers with a 4-D feature map output{more}: {shown}"
    )

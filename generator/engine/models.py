"""Loading the model to explain: torchvision architectures by name, the demo CNN, checkpoints.

``head="gap"`` keeps the architecture's own global-pooling head. ``head="flatten"``
builds the HiResCAM paper's "v" models (ResNet-34v, DenseNet-121v): global pooling
removed and one fully connected layer on the flattened last feature map, for which
HiResCAM provably shows exactly the locations the model used (generator/engine/heads.py).
"""
from __future__ import annotations

import hashlib
import urllib.error
from pathlib import Path

import torch
from torch import nn

from generator.engine.heads import HEADS, num_outputs, replace_classifier, to_flatten_head
from generator.errors import ModelLoadError
from generator.inputs.demo_model import build_demo_cnn


def _torchvision_builder(arch: str):
    import torchvision

    try:
        return torchvision.models.get_model_builder(arch)
    except ValueError:
        names = torchvision.models.list_models(module=torchvision.models)
        close = [n for n in names if arch.lower()[:4] in n] or names[:20]
        raise ModelLoadError(
            f"unknown torchvision architecture {arch!r}; e.g. {', '.join(sorted(close)[:20])} "
            f"({len(names)} classification models in torchvision.models.list_models())"
        ) from None


def _pretrained(arch: str, weights: str):
    import torchvision

    try:
        return torchvision.models.get_model(arch, weights=weights)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and "download" not in str(exc).lower() and "url" not in str(exc).lower():
            raise
        raise ModelLoadError(
            f"could not fetch pretrained weights {weights!r} for {arch!r}: {exc}. "
            "Without network access, put the weight file in torch's cache "
            "(TORCH_HOME, see torch.hub.get_dir()) or pass a local checkpoint path as weights"
        ) from None


def load_checkpoint(path: Path) -> dict | nn.Module:
    if not path.is_file():
        raise ModelLoadError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - maybe a whole pickled model; try that, then explain
        pass
    try:
        # A whole pickled model runs arbitrary code when loaded: only for trusted files.
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from None


def _state_dict(obj) -> dict:
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                return obj[key]
        return obj
    raise ModelLoadError(f"checkpoint holds a {type(obj).__name__}, not a state_dict or nn.Module")


def _apply_state_dict(model: nn.Module, state: dict, path: Path) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][:6]
        raise ModelLoadError(
            f"checkpoint {path} does not match the model ({type(model).__name__}): " + " | ".join(lines)
        ) from None


def load_model(
    arch: str | nn.Module,
    weights: str | Path | None = None,
    num_classes: int | None = None,
    head: str = "gap",
    input_size: int = 224,
) -> nn.Module:
    """Build the model to explain, in eval mode.

    ``arch``: a torchvision classification architecture name (``"resnet18"``), ``"demo_cnn"`` or an
    ``nn.Module`` (used as is; ``weights`` may still be a checkpoint path).
    ``weights``: ``None`` (random init), ``"DEFAULT"`` or another torchvision weights
    name (needs a cache or network), or a local checkpoint path (a state_dict, a dict
    with ``"state_dict"``, or a whole pickled model).
    ``head``: ``"gap"`` or ``"flatten"``; ``input_size`` fixes the flatten layer's size.
    """
    if head not in HEADS:
        raise ModelLoadError(f"head must be one of {HEADS}, got {head!r}")
    path = Path(weights) if weights is not None and looks_like_path(weights) else None
    if isinstance(arch, nn.Module):
        model = arch
        if path is not None:
            _apply_state_dict(model, _state_dict(load_checkpoint(path)), path)
        return model.eval()

    builder = _local_builder(arch) or _torchvision_builder(arch)
    if path is not None:
        loaded = load_checkpoint(path)
        if isinstance(loaded, nn.Module):
            return loaded.eval()
        model = _build(builder, arch, num_classes, head, input_size)
        _apply_state_dict(model, _state_dict(loaded), path)
        return model.eval()
    if weights is not None:
        model = _pretrained(arch, str(weights))
        if num_classes is not None or head == "flatten":
            n = num_classes or num_outputs(model)
            model = to_flatten_head(model, arch, n, input_size) if head == "flatten" else model
            if head == "gap" and n != num_outputs(model):
                replace_classifier(model, n)
        return model.eval()
    return _build(builder, arch, num_classes, head, input_size).eval()


def _local_builder(arch: str):
    """Architectures camstudy defines itself (the built-in demo CNN)."""
    if arch == "demo_cnn":
        def builder(weights=None, num_classes: int = 5, input_size: int = 128, **_):
            return build_demo_cnn(num_classes=num_classes, input_size=input_size)

        return builder
    return None


def _build(builder, arch: str, num_classes: int | None, head: str, input_size: int) -> nn.Module:
    kwargs = {"num_classes": num_classes} if num_classes is not None else {}
    if arch == "demo_cnn":  # always a flatten head, sized for its input
        return builder(weights=None, input_size=input_size, **kwargs)
    model = builder(weights=None, **kwargs)
    if head == "flatten":
        model = to_flatten_head(model, arch, num_classes or num_outputs(model), input_size)
    return model


def looks_like_path(weights: str | Path) -> bool:
    text = str(weights)
    if isinstance(weights, Path) or Path(text).exists():
        return True
    return "/" in text or "\\" in text or text.endswith((".pt", ".pth", ".ckpt", ".bin"))


def describe(model: nn.Module) -> dict:
    """A short, JSON-able description of the model and a checksum of its parameters."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().flatten().view(torch.uint8).numpy().tobytes())
    n_params = sum(p.numel() for p in model.parameters())
    return {"class": type(model).__name__, "parameters": n_params, "sha256": digest.hexdigest()}

"""The model a study explains, as described by [model] and the checkpoint's own metadata."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from generator.engine.heads import num_outputs
from generator.engine.layers import default_target_layer
from generator.engine.models import describe, load_model, looks_like_path
from generator.errors import CamStudyError, ModelLoadError
from generator.settings import GeneratorConfig

META_KEYS = ("arch", "head", "num_classes", "input_size", "class_names", "probability", "multilabel")


@dataclass
class ModelSetup:
    model: nn.Module
    arch: str
    head: str
    weights: str
    class_names: list[str]
    target_layer: str
    probability: str
    input_size: int
    dtype: torch.dtype = torch.float32

    def describe(self) -> dict:
        info = describe(self.model)
        return {"arch": self.arch, "head": self.head, "num_classes": len(self.class_names),
                "class_names": self.class_names, "weights": self.weights, "sha256": info["sha256"],
                "parameters": info["parameters"], "input_size": self.input_size,
                "score": "logit", "probability": self.probability}


def checkpoint_metadata(path: Path) -> dict:
    """camstudy's own checkpoints carry arch, head, classes and input size beside the weights."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - not a plain dict checkpoint; load_model explains problems
        return {}
    return {k: obj[k] for k in META_KEYS if isinstance(obj, dict) and k in obj}


def torchvision_categories(arch: str, weights: str) -> list[str]:
    """Class names that come with torchvision's pretrained weights (e.g. ImageNet's)."""
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(arch)
        chosen = enum.DEFAULT if weights == "DEFAULT" else enum[weights]
    except (KeyError, ValueError):
        return []
    return list(chosen.meta.get("categories", []))


def weights_path(cfg: GeneratorConfig, weights: str) -> Path | None:
    """A local checkpoint named by [model] weights (relative to study.toml), else None."""
    if not weights:
        return None
    candidate = cfg.resolve(weights)
    return candidate if candidate.exists() or looks_like_path(weights) else None


def setup_model(cfg: GeneratorConfig, device: torch.device, source_class_names: list[str],
                weights_override: str | None = None) -> ModelSetup:
    m = cfg.model
    weights = weights_override or m.weights
    path = weights_path(cfg, weights)
    meta = checkpoint_metadata(path) if path is not None and path.is_file() else {}
    arch = m.arch or meta.get("arch")
    if not arch:
        raise CamStudyError(f"{cfg.path}: [model] arch is not set and the checkpoint does not name one")
    head = m.head or meta.get("head") or "gap"
    input_size = int(meta.get("input_size") or cfg.images.crop)
    if arch == "demo_cnn" and input_size != cfg.images.crop:
        raise CamStudyError(f"{cfg.path}: the demo CNN takes {input_size} px inputs but [images] crop = {cfg.images.crop}")
    names = list(m.class_names) or list(meta.get("class_names") or [])
    if not names and weights and path is None:
        names = torchvision_categories(arch, weights)
    num_classes = m.num_classes or meta.get("num_classes") or (len(names) or None)
    if num_classes is None and source_class_names and not weights:
        num_classes = len(source_class_names)
    model = load_model(arch, weights=path if path is not None else (weights or None),
                       num_classes=num_classes, head=head, input_size=input_size)
    outputs = num_outputs(model)
    names = names or (list(source_class_names) if len(source_class_names) == outputs else [])
    names = names or [str(i) for i in range(outputs)]
    if len(names) != outputs:
        raise ModelLoadError(f"{cfg.path}: {len(names)} class names for a model with {outputs} outputs")
    model = model.to(device).eval()
    layer = m.target_layer or default_target_layer(model, input_size)
    probability = m.probability or meta.get("probability") or ("sigmoid" if meta.get("multilabel") else "softmax")
    return ModelSetup(model=model, arch=arch, head=head, weights=str(weights or "none"), class_names=names,
                      target_layer=layer, probability=probability, input_size=input_size,
                      dtype=next(model.parameters()).dtype)

"""Model loading's public import path (README): ``from generator.models import load_model``.
The loader itself is generator/engine/models.py (heads: generator/engine/heads.py)."""
from generator.engine.heads import HEADS, FlattenHeadNet
from generator.engine.models import describe, load_model

__all__ = ["HEADS", "FlattenHeadNet", "describe", "load_model"]

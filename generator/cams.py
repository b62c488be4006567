"""The CAM engine's public import path (README): ``from generator.cams import compute_cams``.
The engine itself is generator/engine/cams.py."""
from generator.engine.cams import METHODS, CamResult, compute_cams, register

__all__ = ["METHODS", "CamResult", "compute_cams", "register"]

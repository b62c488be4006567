"""Stimulus generator: blinded Grad-CAM vs HiResCAM A/B pairs (imports torch, never flask)."""

__version__ = "0.1.0"

"""The response model of a simulated participant: which side they pick, and how long
they say it took.

The person "sees" which method is on which side through the study's manifest
(stimulus names are content hashes, keys are file names), chooses Grad-CAM for
question ``q`` with probability ``p_gradcam[q]``, "About the same" with ``p_same``
where offered, and answers attention checks correctly with ``attention_accuracy``.
Without a manifest every answer is a fair coin.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse


@dataclass(frozen=True)
class ResponseModel:
    p_gradcam: dict[str, float] = field(default_factory=lambda: {"larger": 0.7, "focused": 0.35})
    p_same: float = 0.05
    attention_accuracy: float = 0.95
    rt_median_ms: int = 1800

    def rt_ms(self, rng: random.Random) -> int:
        return max(150, int(self.rt_median_ms * math.exp(rng.gauss(0, 0.5))))


class StudyView:
    """What the manifest says about an image URL: its method (None for a check) and pair."""

    def __init__(self, manifest: dict[str, Any] | None) -> None:
        self.by_key: dict[str, tuple[str | None, dict[str, Any], str]] = {}
        for pair in (manifest or {}).get("pairs", []):
            for side in ("A", "B"):
                entry = pair["sides"][side]
                info = (entry.get("method"), pair, side)
                if entry.get("sha256"):
                    self.by_key[entry["sha256"][:32]] = info
                if entry.get("file"):
                    self.by_key[PurePosixPath(entry["file"]).name] = info

    def lookup(self, url: str) -> tuple[str | None, dict[str, Any], str] | None:
        name = PurePosixPath(urlparse(url).path).name
        return self.by_key.get(name) or self.by_key.get(name.removesuffix(".png"))


def choose(model: ResponseModel, view: StudyView, rng: random.Random, images: list[str],
           questions: list[str], options: list[str]) -> dict[str, str]:
    """The sides this simulated person picks for one trial (images: [original?,] A, B)."""
    a, b = (view.lookup(images[-2]), view.lookup(images[-1])) if len(images) >= 2 else (None, None)
    out = {}
    for q in questions:
        if a and b and a[0] is None and q in (a[1].get("expected") or {}):  # attention check
            right = a[1]["expected"][q]
            wrong = [o for o in options if o != right]
            out[q] = right if rng.random() < model.attention_accuracy or not wrong else rng.choice(wrong)
        elif "same" in options and rng.random() < model.p_same:
            out[q] = "same"
        elif a and b and {a[0], b[0]} >= {"gradcam"} and a[0] != b[0]:
            gradcam_side = "A" if a[0] == "gradcam" else "B"
            other = "B" if gradcam_side == "A" else "A"
            out[q] = gradcam_side if rng.random() < model.p_gradcam.get(q, 0.5) else other
        else:
            out[q] = rng.choice(["A", "B"])
    return out

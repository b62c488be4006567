"""The built-in demo set: synthetic scenes with exact per-object masks.

Each scene is a textured background (noise, stripes or a gradient) with six filled
shapes that never overlap. The labelled one sits in the middle, of a random class:
it is the image's label and its mask. The other five, one of each class in random
places, are clutter: the same for every label, so they say nothing about it, and
the labelled shape always has a twin among them. A model that learns the label
reads the middle; channels that recognise the shape fire on the twin as well,
which is where Grad-CAM and HiResCAM part (docs/generator-inputs.md).

A scene is a pure function of ``(seed, split, index)``: scenes can
be made one at a time, in any order, and are the same on every machine.

The splits are independent streams of scenes: ``train`` and ``test`` for
``camstudy train --demo``, ``study`` (the default) for the stimuli the demo study
explains, so the study never shows the model an image it was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

DEMO_CLASSES: list[str] = ["circle", "square", "triangle", "cross", "ring"]
SPLITS = {"study": 0, "train": 1, "test": 2}
CENTRE_JITTER = 0.06          # the labelled object's centre lies within this share of the size from the middle
MIN_DISTRACTORS, MAX_DISTRACTORS = 5, 5  # clutter shapes (5: every class once)
OBJECT_SIZE = (0.18, 0.26)   # side of every shape's square, as a share of the scene's side
_PLACEMENT_TRIES = 100


@dataclass(frozen=True)
class DemoObject:
    class_index: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (inclusive-exclusive) of the shape's square
    colour: tuple[int, int, int]
    labelled: bool = True  # False: a distractor, not among the image's labels


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # H×W×3 uint8
    objects: tuple[DemoObject, ...]
    masks: tuple[np.ndarray, ...]  # one bool H×W mask per object

    @property
    def classes(self) -> tuple[int, ...]:
        return tuple(sorted({o.class_index for o in self.objects if o.labelled}))

    def class_mask(self, class_index: int) -> np.ndarray:
        """Union of the masks of every object of ``class_index`` (all False if none)."""
        out = np.zeros(self.image.shape[:2], dtype=bool)
        for obj, mask in zip(self.objects, self.masks):
            if obj.labelled and obj.class_index == class_index:
                out |= mask
        return out


def scene_rng(seed: int, index: int, split: str = "study") -> np.random.Generator:
    if split not in SPLITS:
        raise ValueError(f"unknown demo split {split!r}; known: {sorted(SPLITS)}")
    if seed < 0 or index < 0:
        raise ValueError(f"demo seed and index must be >= 0, got seed={seed}, index={index}")
    return np.random.default_rng([seed, SPLITS[split], index])


def scene_layout(rng: np.random.Generator, size: int) -> tuple[DemoObject, ...]:
    """The labelled object near the centre, then distractors around it where they fit."""
    lo, hi = max(8, round(size * OBJECT_SIZE[0])), max(10, round(size * OBJECT_SIZE[1]))
    side = int(rng.integers(lo, hi + 1))
    jitter = max(1, round(size * CENTRE_JITTER))
    x0, y0 = ((size - side) // 2 + int(v) for v in rng.integers(-jitter, jitter + 1, size=2))
    objects = [DemoObject(int(rng.integers(len(DEMO_CLASSES))), (x0, y0, x0 + side, y0 + side),
                          _object_colour(rng), labelled=True)]
    wanted = int(rng.integers(MIN_DISTRACTORS, MAX_DISTRACTORS + 1))
    # distinct classes drawn independently of the label: the clutter says nothing about it
    for cls in rng.permutation(len(DEMO_CLASSES))[:wanted].tolist():
        colour = _object_colour(rng)
        for _ in range(_PLACEMENT_TRIES):
            dside = int(rng.integers(lo, hi + 1))
            x0, y0 = (int(v) for v in rng.integers(1, size - dside, size=2))
            box = (x0, y0, x0 + dside, y0 + dside)
            if not any(_boxes_touch(box, o.box, gap=3) for o in objects):
                objects.append(DemoObject(cls, box, colour, labelled=False))
                break
    return tuple(objects)


def make_scene(seed: int, index: int, size: int = 128, split: str = "study") -> Scene:
    rng = scene_rng(seed, index, split)
    objects = scene_layout(rng, size)
    image = _background(rng, size)
    masks = []
    for obj in objects:
        mask = shape_mask(obj.class_index, obj.box, size)
        image[mask] = obj.colour
        masks.append(mask)
    return Scene(image=image, objects=objects, masks=tuple(masks))


def shape_mask(class_index: int, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """The filled shape of ``DEMO_CLASSES[class_index]`` inside ``box`` as a bool mask."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    x0, y0, x1, y1 = box
    x1, y1 = x1 - 1, y1 - 1  # ImageDraw boxes include their last pixel
    side = x1 - x0
    name = DEMO_CLASSES[class_index]
    if name == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=255)
    elif name == "square":
        pad = side // 10
        draw.rectangle((x0 + pad, y0 + pad, x1 - pad, y1 - pad), fill=255)
    elif name == "triangle":
        draw.polygon([(x0 + side / 2, y0), (x1, y1), (x0, y1)], fill=255)
    elif name == "cross":
        bar = max(2, side // 3)
        mid_lo = x0 + (side - bar) // 2
        draw.rectangle((mid_lo, y0, mid_lo + bar, y1), fill=255)
        mid_lo = y0 + (side - bar) // 2
        draw.rectangle((x0, mid_lo, x1, mid_lo + bar), fill=255)
    elif name == "ring":
        width = max(2, side // 5)
        draw.ellipse((x0, y0, x1, y1), fill=255)
        draw.ellipse((x0 + width, y0 + width, x1 - width, y1 - width), fill=0)
    else:  # pragma: no cover - DEMO_CLASSES and this function change together
        raise ValueError(name)
    return np.asarray(canvas) > 0


def _boxes_touch(a, b, gap: int) -> bool:
    return not (a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1])


def _object_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A saturated colour of random hue, light or dark, so shape (not colour) tells classes apart."""
    hue = rng.random()
    sat = rng.uniform(0.6, 1.0)
    val = rng.uniform(0.75, 1.0) if rng.random() < 0.75 else rng.uniform(0.08, 0.25)
    rgb = _hsv_to_rgb(hue, sat, val)
    return tuple(int(round(c * 255)) for c in rgb)


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A muted texture: value noise, stripes at a random angle, or a linear gradient."""
    base = rng.uniform(70, 170, size=3)
    tint = rng.uniform(-10, 10, size=3)
    kind = int(rng.integers(3))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == 0:  # blocky value noise, upsampled
        cells = int(rng.integers(4, 17))
        coarse = rng.uniform(-1, 1, size=(cells, cells)).astype(np.float32)
        reps = -(-size // cells)
        pattern = np.kron(coarse, np.ones((reps, reps), np.float32))[:size, :size]
    elif kind == 1:  # stripes
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(0.06, 0.25)
        phase = (np.cos(angle) * xx + np.sin(angle) * yy) / period
        pattern = np.sin(2 * np.pi * phase)
    else:  # gradient
        angle = rng.uniform(0, 2 * np.pi)
        pattern = 2 * (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5))
    amplitude = rng.uniform(10, 30)
    grain = rng.normal(0, rng.uniform(2, 10), size=(size, size, 1)).astype(np.float32)
    image = base + pattern[..., None] * (amplitude + tint) + grain
    return np.clip(image, 0, 255).astype(np.uint8)

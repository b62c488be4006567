"""Illustrations for the instructions and the practice rounds: clear-cut, drawn examples
that are not study pairs, in the study's own colormap and overlay strength.

Each illustration is a plain drawn scene with a heat map made of simple shapes: crisp
disks (a compact spot with clear edges) or soft Gaussian patches (colour that fades out
slowly). Nothing here is made by a CAM method, so an illustration says nothing about
which method made a study image. Images are rendered on first request and cached.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from flask import Blueprint, Response, abort, request, url_for

bp = Blueprint("examples", __name__)

SIZE = 224
COLORMAPS = ("jet", "turbo", "viridis", "inferno", "gray")  # those the generator renders with

# A spot: (x, y, radius in pixels at which the map is half its peak, crisp?)
Spot = tuple[int, int, int, bool]
MAPS: dict[str, tuple[Spot, ...]] = {
    "layout-a": ((112, 100, 40, True),),
    "layout-b": ((92, 96, 30, False), (150, 140, 26, False)),
    "large": ((112, 108, 64, True),),
    "small": ((112, 108, 28, True),),
    "compact": ((112, 108, 36, True),),
    "spread": ((58, 62, 22, False), (166, 80, 22, False), (104, 170, 22, False)),
    "practice1-a": ((120, 118, 26, True),),
    "practice1-b": ((62, 70, 34, False), (164, 96, 34, False), (96, 172, 32, False)),
    "practice2-a": ((106, 112, 66, True),),
    "practice2-b": ((50, 52, 14, False), (176, 60, 14, False), (60, 178, 14, False), (170, 170, 14, False)),
    "practice3-a": ((64, 150, 30, False), (160, 66, 30, False), (170, 170, 28, False)),
    "practice3-b": ((100, 90, 24, True),),
}


NAMES = frozenset(MAPS) | {"scene", "scale"}


@dataclass(frozen=True)
class Illustration:
    """Two drawn explanation images side by side, with what each shows."""

    left: str
    right: str
    left_caption: str
    right_caption: str


ILLUSTRATIONS = {
    "larger": Illustration("large", "small", "larger area", "smaller area"),
    "focused": Illustration("compact", "spread", "more focused", "less focused"),
}
# Practice rounds: the images shown as Image A and Image B, and the right answer per
# question. Which side is larger and which more focused vary independently, so the
# practice does not teach that the larger one is always the less focused one.
PRACTICE = (
    ("practice1-a", "practice1-b", {"larger": "B", "focused": "A"}),
    ("practice2-a", "practice2-b", {"larger": "A", "focused": "A"}),
    ("practice3-a", "practice3-b", {"larger": "A", "focused": "B"}),
)


def heat_map(spots: tuple[Spot, ...]) -> np.ndarray:
    """A map in [0, 1]: the brightest of its spots at each pixel."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    out = np.zeros((SIZE, SIZE))
    for cx, cy, r, crisp in spots:
        d = np.hypot(x - cx, y - cy) / r  # 1 at the half-peak radius
        spot = 1 / (1 + np.exp((d - 1) * 14)) if crisp else np.exp(-np.log(2) * d**2)
        out = np.maximum(out, spot)
    return out / out.max()


def scene() -> np.ndarray:
    """The drawn "photo" under every illustration: a light room with a dark object."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    img = np.empty((SIZE, SIZE, 3))
    img[:] = (214 + 20 * (y / SIZE))[..., None] * np.array([1.0, 0.98, 0.94])
    floor = y > 160
    img[floor] = np.array([170.0, 150.0, 125.0])
    body = ((x - 112) / 46) ** 2 + ((y - 118) / 52) ** 2 <= 1
    img[body] = np.array([70.0, 80.0, 96.0])
    head = np.hypot(x - 112, y - 52) <= 22
    img[head] = np.array([90.0, 98.0, 110.0])
    return img


@lru_cache(maxsize=len(COLORMAPS))
def colormap_table(name: str) -> np.ndarray:
    """256×3 colours of a named colormap (matplotlib's tables, which the generator uses)."""
    from matplotlib import colormaps

    return np.asarray(colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255.0)


def overlay(values: np.ndarray, colormap: str, alpha: float, under: np.ndarray) -> np.ndarray:
    """Colour ``values`` (0-1) and blend them over ``under``, as the generator does."""
    heat = colormap_table(colormap)[np.clip(np.rint(values * 255), 0, 255).astype(np.int64)]
    return np.clip(np.rint((1 - alpha) * under + alpha * heat), 0, 255).astype(np.uint8)


def png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


@lru_cache(maxsize=128)
def render(name: str, colormap: str, alpha_pct: int) -> bytes | None:  # None: no such name
    """An illustration's PNG bytes: ``scene``, ``scale`` (the colour bar) or a map name."""
    alpha = alpha_pct / 100
    if name == "scene":
        return png(np.rint(scene()).astype(np.uint8))
    if name == "scale":  # the colours exactly as they appear over a light part of a scene
        ramp = np.tile(np.linspace(0, 1, 256), (20, 1))
        return png(overlay(ramp, colormap, alpha, np.full((20, 256, 3), 228.0)))
    if name in MAPS:
        return png(overlay(heat_map(MAPS[name]), colormap, alpha, scene()))
    return None


def image_url(name: str, colormap: str, alpha: float) -> str:
    cmap = colormap if colormap in COLORMAPS else "jet"
    return url_for("examples.image", colormap=cmap, alpha_pct=round(alpha * 100), name=name)


@bp.get("/examples/<colormap>/<int:alpha_pct>/<name>.png")
def image(colormap: str, alpha_pct: int, name: str):
    if colormap not in COLORMAPS or not 0 <= alpha_pct <= 100 or name not in NAMES:
        abort(404, "No such illustration.")  # (checked first: only real names reach the cache)
    data = render(name, colormap, alpha_pct)
    resp = Response(data, mimetype="image/png")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    resp.set_etag(f"{colormap}-{alpha_pct}-{name}")
    return resp.make_conditional(request)

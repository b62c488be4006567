"""Inputs for the tests that run the real generator or trainer: study.toml text for the
built-in demo model and images (no downloads), and a folder of labelled images."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def demo_study_toml(study_id: str, images: int, size: int = 96) -> str:
    """[study], [model] and [images]: the demo CNN (5 classes) on ``images`` demo images of
    ``size`` x ``size`` pixels, used at that size. Tests add the sections they are about."""
    return (
        f'\n[study]\nid = "{study_id}"\n'
        '[model]\narch = "demo_cnn"\nnum_classes = 5\nbatch_size = 8\n'
        f'[images]\nsource = "demo"\ndemo_count = {images}\ndemo_size = {size}\nresize = {size}\ncrop = {size}\n'
    )


def write_labelled_images(folder: Path, csv: Path, labels: list[str], size: tuple[int, int],
                          broken: tuple[str, str]) -> None:
    """Random RGB images im0.png, im1.png, ... of ``size`` (height, width) in ``folder``, one
    per label, and a file that is no image, named and labelled as ``broken`` says; ``csv``
    lists them all (columns image, class; names relative to the folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = ["image,class"]
    for i, label in enumerate(labels):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
        rows.append(f"im{i}.png,{label}")
    name, label = broken
    (folder / name).write_bytes(b"not an image")
    rows.append(f"{name},{label}")
    csv.write_text("\n".join(rows) + "\n")

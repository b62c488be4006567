"""Building the image source a study's [images] section names."""
from __future__ import annotations

from pathlib import Path

from generator.errors import CamStudyError
from generator.inputs import images
from generator.settings import GeneratorConfig


def build_source(cfg: GeneratorConfig, class_names: list[str] | None = None) -> images.ImageSource:
    i = cfg.images
    if i.source == "demo":
        return images.demo_source(n=i.demo_count, seed=i.demo_seed, size=i.demo_size)
    if i.source == "folder":
        return images.folder_source(cfg.resolve(i.folder), cfg.resolve(i.csv),
                                    class_names=class_names or None, min_size=i.min_size)
    return images.voc_source(cfg.resolve(i.voc_root), year=i.voc_year, image_set=i.voc_set,
                             annotations=i.voc_annotations, min_size=i.min_size)


def class_index_map(source_names: list[str], model_names: list[str], path: Path) -> dict[int, int]:
    """Source class index -> model class index, matched by name."""
    if list(source_names) == list(model_names):
        return {i: i for i in range(len(source_names))}
    position = {name: i for i, name in enumerate(model_names)}
    missing = [n for n in source_names if n not in position]
    if missing:
        raise CamStudyError(
            f"{path}: the images name classes the model does not have: {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''}; the model's classes: {model_names[:20]}"
        )
    return {i: position[n] for i, n in enumerate(source_names)}

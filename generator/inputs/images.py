"""Image sources: a folder with a CSV of labels, PASCAL VOC, or the built-in demo scenes.

A source lists its images up front as :class:`ImageRecord` (id, where it came from,
ground-truth classes) and loads each one only when asked. Problems found while
listing (a CSV row naming a missing file, an unknown class) go to ``skipped``;
problems found while loading (a corrupt or tiny file) raise :class:`ImageLoadError`,
so the caller can skip that image and report it.
"""
from __future__ import annotations

import csv
import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from generator.inputs.demo_data import DEMO_CLASSES, Scene, make_scene, scene_layout, scene_rng
from generator.errors import CamStudyError

VOC_CLASSES: list[str] = [
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageLoadError(CamStudyError):
    """An image file is corrupt, unreadable or too small; the message names the file."""


@dataclass(frozen=True)
class ImageRecord:
    image_id: str  # stable: path stem relative to the folder, VOC id, "demo_00017"
    source: str  # where it came from, for the manifest: a path, "voc:2007_000032", "demo:17"
    classes: tuple[int, ...]  # ground-truth class indexes (one or several)


class ImageSource:
    """Records plus a loader. Subclasses fill the attributes and implement ``_open``."""

    masks: bool = False

    def __init__(self, class_names: Sequence[str], records: list[ImageRecord],
                 skipped: list[tuple[str, str]], min_size: int = 32) -> None:
        self.class_names = list(class_names)
        self.records = records
        self.skipped = skipped
        self.min_size = min_size

    def __len__(self) -> int:
        return len(self.records)

    def load(self, record: ImageRecord) -> Image.Image:
        """The image as RGB; :class:`ImageLoadError` naming the file when it cannot be used."""
        img = self._open(record)
        if min(img.size) < self.min_size:
            raise ImageLoadError(
                f"image too small: {record.source} is {img.size[0]}×{img.size[1]} px, "
                f"the minimum side is {self.min_size} px"
            )
        return img

    def object_mask(self, record: ImageRecord, class_index: int) -> np.ndarray | None:
        """Bool H×W mask of ``class_index`` in the original image's coordinates, or None."""
        return None

    def _open(self, record: ImageRecord) -> Image.Image:  # pragma: no cover - abstract
        raise NotImplementedError


def read_image(path: Path) -> Image.Image:
    """Open and fully decode ``path`` as RGB, turning every failure into ImageLoadError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()  # decode now: a truncated file fails here, not later
                # RGBA/LA/P/L/I/CMYK -> RGB, as torchvision's ImageFolder loader does
                return img.convert("RGB")
    except FileNotFoundError:
        raise ImageLoadError(f"image not found: {path}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"cannot read image {path}: {type(exc).__name__}: {exc}") from None


# --------------------------------------------------------------------------- folder + CSV

class FolderSource(ImageSource):
    def __init__(self, folder: Path, class_names, records, skipped, paths: dict[str, Path],
                 min_size: int) -> None:
        super().__init__(class_names, records, skipped, min_size)
        self.folder = folder
        self._paths = paths

    def _open(self, record: ImageRecord) -> Image.Image:
        return read_image(self._paths[record.image_id])


def folder_source(folder: str | Path, csv_path: str | Path, class_names: Sequence[str] | None = None,
                  min_size: int = 32) -> ImageSource:
    """Images under ``folder`` labelled by a CSV with header ``image,class``.

    ``image`` is a path relative to ``folder``; ``class`` is a class name or an index
    into ``class_names``. Several rows for one image give it several classes. Without
    ``class_names``, all-integer classes are indexes (names "0".."max") and anything
    else is a name, the names sorted.
    """
    folder, csv_path = Path(folder), Path(csv_path)
    if not folder.is_dir():
        raise CamStudyError(f"image folder not found: {folder}")
    rows = _read_label_rows(csv_path)
    if class_names is None:
        class_names = _infer_class_names([c for _, _, c in rows])
    lookup = _class_lookup(class_names)

    classes: dict[str, list[int]] = {}
    paths: dict[str, Path] = {}
    sources: dict[str, str] = {}
    skipped: list[tuple[str, str]] = []
    for line, image, cls in rows:
        where = f"{csv_path}:{line}"
        if not image:
            skipped.append((where, "empty image column"))
            continue
        path = folder / image
        if not path.is_file():
            skipped.append((str(path), f"file not found (row {where})"))
            continue
        index = _resolve_class(cls, lookup, len(class_names))
        if index is None:
            skipped.append((str(path), f"unknown class {cls!r} (row {where}); known: {_preview(class_names)}"))
            continue
        image_id = Path(image).with_suffix("").as_posix()
        if image_id in paths and paths[image_id] != path:  # a.jpg and a.png: keep both apart
            image_id = Path(image).as_posix()
        paths[image_id], sources[image_id] = path, str(path)
        if index not in classes.setdefault(image_id, []):
            classes[image_id].append(index)
    records = [ImageRecord(i, sources[i], tuple(sorted(c))) for i, c in classes.items()]
    return FolderSource(folder, class_names, records, skipped, paths, min_size)


def _read_label_rows(csv_path: Path) -> list[tuple[int, str, str]]:
    if not csv_path.is_file():
        raise CamStudyError(f"label CSV not found: {csv_path}")
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as fh:  # -sig: Excel's BOM
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise CamStudyError(f"label CSV {csv_path} is empty; expected a header row `image,class`")
            names = [h.strip().lower() for h in header]
            if "image" not in names or "class" not in names:
                raise CamStudyError(
                    f"label CSV {csv_path} needs the columns `image` and `class`; found columns {header}"
                )
            i_img, i_cls = names.index("image"), names.index("class")
            rows = []
            for line, row in enumerate(reader, start=2):
                if not any(cell.strip() for cell in row):
                    continue
                cell = lambda i: row[i].strip() if i < len(row) else ""  # noqa: E731
                rows.append((line, cell(i_img), cell(i_cls)))
            return rows
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CamStudyError(f"cannot read label CSV {csv_path}: {exc}") from None


def _infer_class_names(values: list[str]) -> list[str]:
    values = [v for v in values if v]
    if values and all(v.isdigit() for v in values):
        return [str(i) for i in range(max(int(v) for v in values) + 1)]
    return sorted(set(values))


def _class_lookup(class_names: Sequence[str]) -> dict[str, int]:
    lookup = {}
    for i, name in reversed(list(enumerate(class_names))):
        lookup[name.lower()] = i
    for i, name in enumerate(class_names):
        lookup[name] = i  # exact spelling wins over case-insensitive
    return lookup


def _resolve_class(value: str, lookup: dict[str, int], n: int) -> int | None:
    if value in lookup:
        return lookup[value]
    if value.lower() in lookup:
        return lookup[value.lower()]
    if value.isdigit() and int(value) < n:
        return int(value)
    return None


def _preview(names: Sequence[str], k: int = 10) -> str:
    shown = ", ".join(names[:k])
    return shown + (f", ... ({len(names)} in all)" if len(names) > k else "")


# --------------------------------------------------------------------------- PASCAL VOC

class VocSource(ImageSource):
    def __init__(self, records, skipped, images: dict[str, Path], seg_class: dict[str, Path] | None,
                 min_size: int) -> None:
        super().__init__(VOC_CLASSES, records, skipped, min_size)
        self._images = images
        self._seg_class = seg_class
        self.masks = seg_class is not None

    def _open(self, record: ImageRecord) -> Image.Image:
        return read_image(self._images[record.image_id])

    def object_mask(self, record: ImageRecord, class_index: int) -> np.ndarray | None:
        if self._seg_class is None:
            return None
        return _voc_label_map(self._seg_class[record.image_id]) == class_index + 1


def _voc_label_map(path: Path) -> np.ndarray:
    """SegmentationClass png: palette index = VOC class index + 1, 0 background, 255 void."""
    try:
        with Image.open(path) as img:
            if img.mode not in ("P", "L"):
                raise ImageLoadError(f"VOC label image {path} has mode {img.mode}, expected a palette image")
            return np.asarray(img)
    except OSError as exc:
        raise ImageLoadError(f"cannot read VOC label image {path}: {exc}") from None


def voc_source(root: str | Path, year: str = "2012", image_set: str = "val",
               annotations: str = "segmentation", min_size: int = 32) -> ImageSource:
    """PASCAL VOC through torchvision's dataset classes (``download=False``).

    ``annotations="segmentation"``: the images of ``ImageSets/Segmentation/<set>.txt``,
    classes and masks from ``SegmentationClass``. ``"detection"``: the images of
    ``ImageSets/Main/<set>.txt``, classes from the ``Annotations`` XML (no masks).
    """
    from torchvision.datasets import VOCDetection, VOCSegmentation

    if annotations not in ("segmentation", "detection"):
        raise CamStudyError(f"VOC annotations must be 'segmentation' or 'detection', got {annotations!r}")
    root = Path(root)
    base_dir = "VOCdevkit/VOC2011" if str(year) == "2011" else f"VOCdevkit/VOC{year}"  # torchvision's layout
    voc_root = root / base_dir
    if not voc_root.is_dir():
        raise CamStudyError(
            f"PASCAL VOC {year} not found: torchvision expects {voc_root} (with JPEGImages/, "
            f"Annotations/, ImageSets/, SegmentationClass/) under the root {root}. Nothing is "
            "downloaded: unpack VOCtrainval_*.tar there yourself, or point the root at the folder "
            "that holds VOCdevkit/"
        )
    cls = VOCSegmentation if annotations == "segmentation" else VOCDetection
    try:
        dataset = cls(str(root), year=str(year), image_set=image_set, download=False)
    except (RuntimeError, FileNotFoundError, ValueError) as exc:
        split_dir = "Segmentation" if annotations == "segmentation" else "Main"
        raise CamStudyError(
            f"cannot open PASCAL VOC {year} {image_set!r} ({annotations}) under {voc_root}: {exc}. "
            f"The image list is read from ImageSets/{split_dir}/{image_set}.txt"
        ) from None

    records, skipped, images = [], [], {}
    seg_class: dict[str, Path] | None = {} if annotations == "segmentation" else None
    labels = dataset.masks if annotations == "segmentation" else dataset.targets
    for image_path, label_path in zip(dataset.images, labels):
        image_id = Path(image_path).stem
        source = f"voc:{image_id}"
        if not Path(image_path).is_file():
            skipped.append((source, f"image file not found: {image_path}"))
            continue
        try:
            classes = (_voc_segmentation_classes(Path(label_path)) if seg_class is not None
                       else _voc_detection_classes(dataset, Path(label_path)))
        except (ImageLoadError, CamStudyError) as exc:
            skipped.append((source, str(exc)))
            continue
        if not classes:
            skipped.append((source, "no annotated object"))
            continue
        images[image_id] = Path(image_path)
        if seg_class is not None:
            seg_class[image_id] = Path(label_path)
        records.append(ImageRecord(image_id, source, classes))
    return VocSource(records, skipped, images, seg_class, min_size)


def _voc_segmentation_classes(path: Path) -> tuple[int, ...]:
    if not path.is_file():
        raise CamStudyError(f"segmentation label not found: {path}")
    values = np.unique(_voc_label_map(path))
    return tuple(int(v) - 1 for v in values if 1 <= v <= len(VOC_CLASSES))


def _voc_detection_classes(dataset, path: Path) -> tuple[int, ...]:
    import xml.etree.ElementTree as ET

    try:
        tree = dataset.parse_voc_xml(ET.parse(path).getroot())
    except (OSError, ET.ParseError) as exc:
        raise CamStudyError(f"cannot read annotation {path}: {exc}") from None
    objects = tree.get("annotation", {}).get("object", [])
    if isinstance(objects, dict):
        objects = [objects]
    found = set()
    for obj in objects:
        name = str(obj.get("name", "")).strip()
        if name not in VOC_CLASSES:
            raise CamStudyError(f"annotation {path} names an unknown VOC class {name!r}")
        found.add(VOC_CLASSES.index(name))
    return tuple(sorted(found))


# --------------------------------------------------------------------------- the demo

class DemoSource(ImageSource):
    masks = True

    def __init__(self, records, seed: int, size: int, split: str) -> None:
        super().__init__(DEMO_CLASSES, records, [], min_size=1)
        self.seed, self.size, self.split = seed, size, split
        self._scene = functools.lru_cache(maxsize=64)(self._make_scene)

    def _make_scene(self, index: int) -> Scene:
        return make_scene(self.seed, index, self.size, self.split)

    def scene(self, record: ImageRecord) -> Scene:
        return self._scene(int(record.source.rsplit(":", 1)[1]))

    def _open(self, record: ImageRecord) -> Image.Image:
        return Image.fromarray(self.scene(record).image)

    def object_mask(self, record: ImageRecord, class_index: int) -> np.ndarray | None:
        return self.scene(record).class_mask(class_index)


def demo_source(n: int = 200, seed: int = 0, size: int = 128, split: str = "study") -> ImageSource:
    """``n`` synthetic demo scenes (see generator.inputs.demo_data), exact masks included.

    The default ``split="study"`` never overlaps the scenes ``camstudy train --demo``
    trains or tests on.
    """
    if n < 1 or size < 32:
        raise CamStudyError(f"the demo set needs n >= 1 and size >= 32, got n={n}, size={size}")
    records = []
    for i in range(n):
        objects = scene_layout(scene_rng(seed, i, split), size)
        classes = tuple(sorted({o.class_index for o in objects if o.labelled}))
        prefix = "demo" if split == "study" else f"demo-{split}"
        records.append(ImageRecord(f"{prefix}_{i:05d}", f"{prefix}:{i}", classes))
    return DemoSource(records, seed, size, split)

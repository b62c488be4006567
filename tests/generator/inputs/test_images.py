"""Image sources: folder + CSV, PASCAL VOC through torchvision, and their errors."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from generator.errors import CamStudyError
from generator.inputs.images import VOC_CLASSES, ImageLoadError, folder_source, voc_source


def _save(path, mode="RGB", size=(64, 48), colour=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if colour is not None else (0 if mode in ("L", "P") else (10,) * len(mode))).save(path)
    return path


def _csv(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path):
    _save(tmp_path / "imgs" / "cat1.jpg")
    _save(tmp_path / "imgs" / "gray.png", "L")
    _save(tmp_path / "imgs" / "alpha.png", "RGBA", colour=(200, 10, 10, 0))
    _save(tmp_path / "imgs" / "sub" / "dog.png")
    return tmp_path / "imgs"


def test_class_names_and_indexes_and_merged_rows(folder, tmp_path):
    labels = _csv(tmp_path / "labels.csv",
                  "image,class\ncat1.jpg,cat\ncat1.jpg,1\nsub/dog.png,Dog\ngray.png,cat\ncat1.jpg,cat\n")
    source = folder_source(folder, labels, class_names=["cat", "dog"])
    by_id = {r.image_id: r for r in source.records}
    assert by_id["cat1"].classes == (0, 1)  # a name and an index, duplicate row merged
    assert by_id["sub/dog"].classes == (1,)  # names match case-insensitively
    assert by_id["gray"].classes == (0,)
    assert source.skipped == [] and source.masks is False
    assert source.object_mask(by_id["cat1"], 0) is None


def test_class_names_inferred_from_csv(folder, tmp_path):
    names = folder_source(folder, _csv(tmp_path / "a.csv", "image,class\ncat1.jpg,zebra\ngray.png,ant\n"))
    assert names.class_names == ["ant", "zebra"]
    indexes = folder_source(folder, _csv(tmp_path / "b.csv", "class,image\n2,cat1.jpg\n0,gray.png\n"))
    assert indexes.class_names == ["0", "1", "2"] and indexes.records[0].classes == (2,)


def test_grayscale_and_rgba_become_rgb(folder, tmp_path):
    source = folder_source(folder, _csv(tmp_path / "l.csv", "image,class\ngray.png,a\nalpha.png,a\n"))
    for record in source.records:
        img = source.load(record)
        assert img.mode == "RGB" and img.size == (64, 48)


def test_missing_files_and_unknown_classes_are_skipped(folder, tmp_path):
    labels = _csv(tmp_path / "l.csv", "image,class\ncat1.jpg,cat\nnope.jpg,cat\ngray.png,horse\n")
    source = folder_source(folder, labels, class_names=["cat", "dog"])
    assert [r.image_id for r in source.records] == ["cat1"]
    reasons = dict(source.skipped)
    assert "file not found" in reasons[str(folder / "nope.jpg")]
    assert "unknown class 'horse'" in reasons[str(folder / "gray.png")]


@pytest.mark.parametrize("name, content", [
    ("corrupt.jpg", b"this is not an image at all"),
    ("truncated.png", None),
])
def test_unreadable_files_raise_naming_the_file(folder, tmp_path, name, content):
    if content is None:  # a real PNG cut short
        full = tmp_path / "full.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(full)
        content = full.read_bytes()[: len(full.read_bytes()) // 2]
    (folder / name).write_bytes(content)
    source = folder_source(folder, _csv(tmp_path / "l.csv", f"image,class\n{name},a\n"))
    with pytest.raises(ImageLoadError, match=name.replace(".", r"\.")):
        source.load(source.records[0])


def test_tiny_image_raises(folder, tmp_path):
    _save(folder / "tiny.png", size=(20, 100))
    source = folder_source(folder, _csv(tmp_path / "l.csv", "image,class\ntiny.png,a\n"), min_size=32)
    with pytest.raises(ImageLoadError, match=r"tiny\.png.*20×100.*32"):
        source.load(source.records[0])


def test_malformed_csv_names_file_and_columns(folder, tmp_path):
    bad = _csv(tmp_path / "bad.csv", "filename,label\ncat1.jpg,cat\n")
    with pytest.raises(CamStudyError, match=r"bad\.csv.*image.*class.*\['filename', 'label'\]"):
        folder_source(folder, bad)
    with pytest.raises(CamStudyError, match="not found"):
        folder_source(folder, tmp_path / "missing.csv")


# --------------------------------------------------------------------------- VOC

def _voc_tree(root):
    """Three images: 0 = person + dog (segmented), 1 = cat (segmented), 2 = car (detection only)."""
    voc = root / "VOCdevkit" / "VOC2012"
    palette = [0, 0, 0] * 256
    objects = {"2012_000000": [("person", (5, 5, 30, 40)), ("dog", (35, 10, 60, 45))],
               "2012_000001": [("cat", (10, 10, 50, 40))],
               "2012_000002": [("car", (0, 0, 20, 20))]}
    for image_id, objs in objects.items():
        _save(voc / "JPEGImages" / f"{image_id}.jpg", size=(64, 48), colour=(90, 120, 150))
        xml = "".join(f"<object><name>{n}</name><difficult>0</difficult><bndbox><xmin>{b[0]}</xmin>"
                      f"<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
                      for n, b in objs)
        (voc / "Annotations").mkdir(parents=True, exist_ok=True)
        (voc / "Annotations" / f"{image_id}.xml").write_text(
            f"<annotation><filename>{image_id}.jpg</filename>{xml}</annotation>")
        if image_id == "2012_000002":
            continue
        labels = np.zeros((48, 64), np.uint8)
        for n, (x0, y0, x1, y1) in objs:
            labels[y0:y1, x0:x1] = VOC_CLASSES.index(n) + 1
        labels[0, :] = 255  # void border, as in VOC
        for folder, arr in (("SegmentationClass", labels), ("SegmentationObject", (labels > 0).astype(np.uint8))):
            img = Image.fromarray(arr, mode="L").convert("P")
            img.putpalette(palette)
            (voc / folder).mkdir(parents=True, exist_ok=True)
            img.save(voc / folder / f"{image_id}.png")
    for split, ids in (("Segmentation", ["2012_000000", "2012_000001"]), ("Main", list(objects))):
        (voc / "ImageSets" / split).mkdir(parents=True, exist_ok=True)
        (voc / "ImageSets" / split / "val.txt").write_text("\n".join(ids) + "\n")
    return objects


def test_voc_segmentation_classes_and_masks(tmp_path):
    _voc_tree(tmp_path)
    source = voc_source(tmp_path, image_set="val", annotations="segmentation")
    assert source.class_names == VOC_CLASSES and source.masks
    pairs = {r.image_id: {VOC_CLASSES[c] for c in r.classes} for r in source.records}
    assert pairs == {"2012_000000": {"person", "dog"}, "2012_000001": {"cat"}}
    record = source.records[0]
    assert record.source == "voc:2012_000000"
    dog = source.object_mask(record, VOC_CLASSES.index("dog"))
    assert dog.shape == (48, 64) and dog.sum() == 25 * 35 and dog[10:45, 35:60].all()
    assert not source.object_mask(record, VOC_CLASSES.index("cat")).any()
    assert source.load(record).size == (64, 48)


def test_voc_detection_classes(tmp_path):
    _voc_tree(tmp_path)
    source = voc_source(tmp_path, image_set="val", annotations="detection")
    pairs = {r.image_id: {VOC_CLASSES[c] for c in r.classes} for r in source.records}
    assert pairs == {"2012_000000": {"person", "dog"}, "2012_000001": {"cat"}, "2012_000002": {"car"}}
    assert not source.masks and source.object_mask(source.records[0], 0) is None


def test_voc_missing_root_says_where_and_no_download(tmp_path):
    with pytest.raises(CamStudyError, match=r"VOCdevkit/VOC2012.*Nothing is downloaded"):
        voc_source(tmp_path / "nowhere")


def test_voc_missing_split_file(tmp_path):
    _voc_tree(tmp_path)
    with pytest.raises(CamStudyError, match=r"ImageSets/Segmentation/train\.txt"):
        voc_source(tmp_path, image_set="train")

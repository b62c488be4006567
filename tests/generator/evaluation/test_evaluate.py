"""`camstudy evaluate` end to end: the tables for the demo set, a VOC tree and a GAP model,
and the per-pair values `generate` puts into the manifest with [evaluation] evaluate = true."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from camstudy.cli import main as camstudy_main
from generator import generate
from generator.evaluation.evaluate import evaluate
from generator.inputs.images import VOC_CLASSES
from generator.settings import ConfigError, load
from tests.generator.helpers import demo_study_toml

DEMO = demo_study_toml("t-eval", images=8) + """[pairs]
n = 6
attention_checks = 1
[evaluation]
evaluate = {evaluate}
thresholds = [0.2, 0.5, 0.8]
[output]
dir = "out"
"""


def write(tmp: Path, text: str) -> Path:
    path = tmp / "study.toml"
    path.write_text(text)
    return path


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def demo_eval(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval-demo")
    torch.manual_seed(0)
    config = write(tmp, DEMO.format(evaluate="false"))
    assert camstudy_main(["evaluate", str(config)]) == 0
    return tmp / "out"


def test_evaluate_writes_the_tables_for_the_demo_config(demo_eval, capsys):
    doc = json.loads((demo_eval / "evaluation.json").read_text())
    assert doc["kind"] == "camstudy-evaluation" and doc["format_version"] == 1
    rows = read_csv(demo_eval / "evaluation.csv")
    assert len(rows) == 6 * 2 and {r["method"] for r in rows} == {"gradcam", "hirescam"}
    assert {"iou_0.2", "iou_0.5", "iou_0.8", "pointing_hit", "energy_inside", "blobs", "roundness"} <= set(rows[0])
    f = doc["faithfulness"]
    assert f["defined"] and f["linear_head"] == "fc"
    assert f["per_method"]["hirescam"]["max_distance"] < 1e-6
    assert f["per_method"]["gradcam"]["mean_distance"] > 0.01
    assert doc["localization"]["defined"] and doc["localization"]["per_method"]["gradcam"]["n"] == 6
    assert set(doc["localization"]["segmentation"]["miou"]) == {"gradcam", "hirescam"}
    md = (demo_eval / "evaluation.md").read_text()
    for heading in ("## Faithfulness", "## Localization", "## Size and shape", "## Pair by pair", "**mIoU**"):
        assert heading in md


def test_evaluate_rows_carry_the_pair_ids_generate_gives(demo_eval, tmp_path):
    torch.manual_seed(0)
    manifest = generate(write(tmp_path, DEMO.format(evaluate="false")))
    rows = read_csv(demo_eval / "evaluation.csv")
    pairs = {p["pair_id"]: (p["image_id"], p["class_index"]) for p in manifest["pairs"]
             if not p["is_attention_check"]}
    assert {r["pair_id"]: (r["image_id"], int(r["class_index"])) for r in rows} == pairs


def test_generate_with_evaluate_adds_side_metrics_and_links_the_tables(tmp_path):
    torch.manual_seed(0)
    manifest = generate(write(tmp_path, DEMO.format(evaluate="true")))
    out = tmp_path / "out"
    assert all((out / n).is_file() for n in ("evaluation.csv", "evaluation.md", "evaluation.json"))
    for pair in manifest["pairs"]:
        for side in pair["sides"].values():
            if side["method"] == "hirescam":
                assert side["metrics"]["faithfulness_distance"] == pytest.approx(0, abs=1e-6)
            if side["method"] is not None:
                assert {"iou_at_half", "pointing_hit", "energy_inside", "blobs", "roundness"} <= set(side["metrics"])
    gallery = (out / "gallery.html").read_text()
    assert 'href="evaluation.md"' in gallery and 'href="evaluation.json"' in gallery
    # The tables name the methods: they stay beside the manifest, never among the stimuli.
    assert not any("evaluation" in p.name for p in (out / "stimuli").iterdir())


def _voc_tree(root: Path) -> None:
    """Two segmented images: a dog on the left, a cat filling the middle."""
    voc = root / "VOCdevkit" / "VOC2012"
    objects = {"2012_000000": ("dog", (4, 8, 40, 56)), "2012_000001": ("cat", (16, 16, 64, 48))}
    rng = np.random.default_rng(0)
    for image_id, (name, (x0, y0, x1, y1)) in objects.items():
        (voc / "JPEGImages").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(voc / "JPEGImages" / f"{image_id}.jpg")
        labels = np.zeros((64, 80), np.uint8)
        labels[y0:y1, x0:x1] = VOC_CLASSES.index(name) + 1
        labels[0, :] = 255
        img = Image.fromarray(labels, mode="L").convert("P")
        img.putpalette([0, 0, 0] * 256)
        (voc / "SegmentationClass").mkdir(parents=True, exist_ok=True)
        img.save(voc / "SegmentationClass" / f"{image_id}.png")
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
    (voc / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(objects) + "\n")


def test_evaluate_on_a_voc_tree_uses_its_segmentation_masks(tmp_path):
    _voc_tree(tmp_path / "voc")
    config = write(tmp_path, f"""
[model]
arch = "demo_cnn"
num_classes = 20
[images]
source = "voc"
voc_root = "{tmp_path / 'voc'}"
resize = 64
crop = 64
[output]
dir = "study"
""")
    torch.manual_seed(0)
    doc = evaluate(config)
    assert {r["class_name"] for r in doc["rows"]} == {"dog", "cat"}
    assert all(r["has_mask"] for r in doc["rows"])
    assert set(doc["localization"]["segmentation"]["per_class"]) == {"cat", "dog"}
    assert doc["faithfulness"]["defined"]
    assert (tmp_path / "study" / "evaluation.md").read_text().count("| dog |") == 1
    assert read_csv(tmp_path / "study" / "evaluation.csv")[0]["iou_0.2"] != ""


GAP_MODEL = """
[model]
arch = "resnet18"
num_classes = 3
class_names = ["a", "b", "c"]
{extra}
[images]
source = "folder"
folder = "imgs"
csv = "labels.csv"
resize = 64
crop = 64
[output]
dir = "study"
"""


def random_folder(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (tmp_path / "labels.csv").write_text("image,class\n0.png,a\n1.png,b\n2.png,c\n")


@pytest.mark.parametrize("command", ["generate", "evaluate"])
def test_a_gap_head_at_the_last_layer_is_refused_with_the_reason_and_the_fixes(tmp_path, capsys, command):
    """A standard torchvision model (GAP + one linear layer): Grad-CAM = HiResCAM, every pair
    would be void. Both commands stop, write no study, and say why and what to do."""
    random_folder(tmp_path)
    config = write(tmp_path, GAP_MODEL.format(extra=""))
    torch.manual_seed(0)
    assert camstudy_main([command, str(config)]) != 0
    err = capsys.readouterr().err
    for words in ("give the same map", "global-average-pooling", "head = \"flatten\"", "target_layer", "'layer4'"):
        assert words in err, words
    assert not (tmp_path / "study" / "manifest.json").exists() and not list((tmp_path / "study").glob("stimuli/*"))


def test_evaluate_on_a_gap_model_says_why_there_is_no_ground_truth(tmp_path):
    """An earlier target layer of a GAP model: the maps differ, but faithfulness (which needs a
    linear head on the flattened map) is not defined, and the report says why."""
    random_folder(tmp_path)
    config = write(tmp_path, GAP_MODEL.format(extra='target_layer = "layer3"'))
    torch.manual_seed(0)
    doc = evaluate(config, out=str(tmp_path / "elsewhere"))
    f = doc["faithfulness"]
    assert not f["defined"] and "global pooling" in f["reason"]
    assert "Not defined for this model" in (tmp_path / "elsewhere" / "evaluation.md").read_text()
    assert not doc["localization"]["defined"] and "no object masks" in doc["localization"]["reason"]
    for r in doc["rows"]:
        assert r["faithfulness_distance"] is None


def test_a_flatten_head_torchvision_model_renders_no_pair_whose_sides_look_the_same(tmp_path):
    """The fix the refusal names works: the same ResNet with head = "flatten" renders pairs
    whose two sides differ to the eye (and no void pair is shown)."""
    random_folder(tmp_path)
    config = write(tmp_path, GAP_MODEL.format(extra='head = "flatten"'))
    torch.manual_seed(0)
    manifest = generate(config)
    real = [p for p in manifest["pairs"] if not p["is_attention_check"]]
    assert len(real) == 3
    for pair in real:
        assert pair["map_difference"] >= manifest["summary"]["min_map_difference"]
        a, b = (np.asarray(Image.open(tmp_path / "study" / pair["sides"][s]["file"]), dtype=int) for s in "AB")
        assert np.abs(a - b).max() > 40 and np.abs(a - b).mean() > 2  # visibly different overlays


def test_unknown_evaluation_keys_and_bad_thresholds_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'treshold' in \[evaluation\]"):
        load(write(tmp_path, "[evaluation]\ntreshold = 0.5\n"))
    with pytest.raises(ConfigError, match=r"\[evaluation\] thresholds"):
        load(write(tmp_path, "[evaluation]\nthresholds = [0, 0.5]\n"))


def test_evaluate_without_a_config_exits_with_usage(capsys):
    with pytest.raises(SystemExit):
        camstudy_main(["evaluate"])

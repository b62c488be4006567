"""`camstudy generate` end to end: a study directory that can be audited and served."""
from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from generator import generate
from generator.cli import generate_main
from generator.errors import CamStudyError
from tests.generator.helpers import demo_study_toml, write_labelled_images

METHOD_WORDS = ("gradcam", "grad", "hirescam", "hires", "cam")

DEMO = demo_study_toml("t-demo", images=24) + """[pairs]
n = {n}
seed = {seed}
attention_checks = 2
[render]
display_size = {display}
[output]
dir = "{out}"
"""


def write_config(tmp: Path, name: str = "study.toml", n: int = 12, seed: int = 0, display: int = 0,
                 out: str = "out") -> Path:
    path = tmp / name
    path.write_text(DEMO.format(n=n, seed=seed, display=display, out=out))
    return path


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gen")
    torch.manual_seed(0)
    manifest = generate(write_config(tmp))
    return tmp / "out", manifest


def test_sides_are_balanced_overall_and_per_class(study):
    _, manifest = study
    real = [p for p in manifest["pairs"] if not p["is_attention_check"]]
    assert len(real) == 12
    hires_a = sum(p["sides"]["A"]["method"] == "hirescam" for p in real)
    assert abs(2 * hires_a - len(real)) <= 1
    for cls in {p["class_name"] for p in real}:
        mine = [p for p in real if p["class_name"] == cls]
        assert abs(2 * sum(p["sides"]["A"]["method"] == "hirescam" for p in mine) - len(mine)) <= 1
    assert all({p["sides"]["A"]["method"], p["sides"]["B"]["method"]} == {"gradcam", "hirescam"} for p in real)


def test_file_names_are_opaque(study):
    out, manifest = study
    names = [f.name.lower() for f in (out / "stimuli").iterdir()]
    image_ids = {p["image_id"].lower() for p in manifest["pairs"]}
    classes = {p["class_name"].lower() for p in manifest["pairs"]}
    for name in names:
        stem = name.rsplit(".", 1)[0]
        assert not any(w in stem for w in METHOD_WORDS), name
        assert not any(c in stem for c in classes), name
        assert not any(i in stem for i in image_ids), name
        assert "attention" not in stem and "catch" not in stem
    pair_ids = [p["pair_id"] for p in manifest["pairs"]]
    assert len(set(pair_ids)) == len(pair_ids)


def test_every_file_decodes_with_the_expected_size_and_checksum(study):
    out, manifest = study
    for p in manifest["pairs"]:
        for entry in [p["sides"]["A"], p["sides"]["B"], p["original"]]:
            data = (out / entry["file"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            image = Image.open(io.BytesIO(data))
            assert image.size == (96, 96) and image.format == "PNG" and image.info == {}


def test_same_seed_same_bytes_other_seed_other_assignment(study, tmp_path):
    out, manifest = study
    torch.manual_seed(0)  # the untrained demo CNN's weights come from torch's global seed
    again = generate(write_config(tmp_path, seed=0))
    assert [p["pair_id"] for p in again["pairs"]] == [p["pair_id"] for p in manifest["pairs"]]
    for f in (out / "stimuli").iterdir():
        assert (tmp_path / "out" / "stimuli" / f.name).read_bytes() == f.read_bytes()
    assert (tmp_path / "out" / "pairs.csv").read_bytes() == (out / "pairs.csv").read_bytes()
    torch.manual_seed(0)
    other = generate(write_config(tmp_path, name="other.toml", seed=1, out="other"))
    sides = lambda m: {(p["image_id"], p["class_index"]): p["sides"]["A"]["method"] for p in m["pairs"]}
    assert sides(other) != sides(manifest)


def test_rerun_skips_what_is_there_and_keeps_the_manifest(study):
    out, manifest = study
    before = (out / "manifest.json").read_bytes()
    torch.manual_seed(0)
    again = generate(write_config(out.parent))
    assert again["summary"]["files_written"] == 0
    assert again["summary"]["files_unchanged"] > 0
    assert (out / "manifest.json").read_bytes() == before


def test_attention_checks_have_correct_expected_answers(study):
    _, manifest = study
    checks = [p for p in manifest["pairs"] if p["is_attention_check"]]
    assert len(checks) == 2
    for p in checks:
        larger, focused = p["expected"]["larger"], p["expected"]["focused"]
        assert larger != focused
        area = {s: p["sides"][s]["metrics"]["area_above_half"] for s in "AB"}
        entropy = {s: p["sides"][s]["metrics"]["entropy"] for s in "AB"}
        assert area[larger] > area[focused] and entropy[focused] < entropy[larger]
        assert p["sides"]["A"]["method"] is None and p["sides"]["B"]["method"] is None


def test_display_image_is_the_models_input_crop(study):
    from generator.inputs.images import demo_source
    from generator.inputs.preprocess import Preprocess

    out, manifest = study
    source = demo_source(n=24, seed=1000, size=96)
    records = {r.image_id: r for r in source.records}
    pair = manifest["pairs"][0]
    shown = torch.from_numpy(np.array(Image.open(out / pair["original"]["file"]))).permute(2, 0, 1)
    expected = Preprocess(resize=96, crop=96).display(source.load(records[pair["image_id"]]))
    assert torch.equal(shown, expected)


def test_pairs_csv_and_gallery(study):
    out, manifest = study
    lines = (out / "pairs.csv").read_text().splitlines()
    assert len(lines) == 1 + len(manifest["pairs"])
    assert lines[0].startswith("pair_id,image_id,class_index,class_name")
    gallery = (out / "gallery.html").read_text()
    assert all(p["pair_id"] in gallery for p in manifest["pairs"])
    assert "Never serve it to participants" in gallery


def test_manifest_records_what_makes_it_reproducible(study):
    out, manifest = study
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["format_version"] == 1 and on_disk["study_id"] == "t-demo"
    assert on_disk["model"]["arch"] == "demo_cnn" and len(on_disk["model"]["sha256"]) == 64
    assert on_disk["seeds"]["pairs"] == 0 and on_disk["target_layer"] == "features"
    assert on_disk["render"]["colormap"] == "jet" and on_disk["device"] == "cpu"
    assert (out / "study.toml").read_text().startswith("\n[study]")


def test_display_size_scales_the_stimuli(tmp_path):
    torch.manual_seed(0)
    manifest = generate(write_config(tmp_path, n=3, display=192))
    entry = manifest["pairs"][0]["sides"]["A"]
    assert Image.open(tmp_path / "out" / entry["file"]).size == (192, 192)


def test_folder_images_with_a_corrupt_file_are_skipped_and_reported(tmp_path, capsys):
    write_labelled_images(tmp_path / "imgs", tmp_path / "labels.csv", ["cat", "dog"] * 3, (80, 90),
                          broken=("broken.jpg", "cat"))
    (tmp_path / "s.toml").write_text(
        '[study]\nid="folder"\n[model]\narch="resnet18"\nhead="flatten"\nclass_names=["cat","dog"]\nbatch_size=4\n'
        '[images]\nsource="folder"\nfolder="imgs"\ncsv="labels.csv"\nresize=64\ncrop=64\n'
        '[pairs]\nattention_checks=1\nmin_map_difference=0\n[output]\ndir="out"\n'
    )
    assert generate_main([str(tmp_path / "s.toml")]) == 0
    said = capsys.readouterr().out
    assert "1 image(s) skipped" in said and "broken.jpg" in said
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len([p for p in manifest["pairs"] if not p["is_attention_check"]]) == 6
    assert manifest["summary"]["skipped_images"][0]["image"].endswith("broken.jpg")


def test_empty_selection_is_an_error_that_says_why(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(DEMO.format(n=0, seed=0, display=0, out="o").replace(
        '[pairs]', '[pairs]\nclasses = "list"\nclass_list = ["unicorn"]'))
    with pytest.raises(CamStudyError, match="unknown classes \\['unicorn'\\]"):
        generate(path)


def test_config_errors_name_file_and_key(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[render]\ncolour = 'jet'\n")
    assert generate_main([str(path)]) == 1
    err = capsys.readouterr().err
    assert "bad.toml" in err and "unknown key 'colour' in [render]" in err
    assert generate_main([str(tmp_path / "missing.toml")]) == 1
    assert "study config not found" in capsys.readouterr().err


def test_s3_output_through_a_moto_server(tmp_path, moto_s3):
    import boto3

    endpoint = moto_s3
    s3 = boto3.client("s3", endpoint_url=endpoint)
    path = write_config(tmp_path, n=4, out="s3://stimuli/studies/t1")
    path.write_text(path.read_text() + f's3_endpoint_url = "{endpoint}"\n')
    torch.manual_seed(0)
    manifest = generate(path)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="stimuli")["Contents"]}
    files = {f"studies/t1/{p['sides'][s]['file']}" for p in manifest["pairs"] for s in "AB"}
    assert files <= keys
    assert not any(k.endswith(("manifest.json", "gallery.html", "pairs.csv")) for k in keys)
    head = s3.head_object(Bucket="stimuli", Key=sorted(files)[0])
    assert head["ContentType"] == "image/png" and "max-age=31536000" in head["CacheControl"]
    assert manifest["storage"] == {"kind": "s3", "bucket": "stimuli", "prefix": "studies/t1",
                                   "url_mode": "presigned", "base_url": None, "endpoint_url": endpoint}
    assert Counter(bool(p["sides"]["A"]["url"]) for p in manifest["pairs"]) == {False: len(manifest["pairs"])}
    torch.manual_seed(0)
    again = generate(path)  # nothing changed: nothing re-uploaded or rewritten
    assert again["summary"]["files_written"] == 0


def test_composite_is_original_then_a_then_b(tmp_path):
    path = write_config(tmp_path, n=2)
    path.write_text(path.read_text().replace("[render]", "[render]\ncomposite = true"))
    torch.manual_seed(0)
    manifest = generate(path)
    pair = manifest["pairs"][0]
    out = tmp_path / "out"
    canvas = np.array(Image.open(out / pair["composite"]["file"]))
    assert canvas.shape == (96, 3 * 96 + 2 * 8, 3)
    for i, entry in enumerate([pair["original"], pair["sides"]["A"], pair["sides"]["B"]]):
        panel = np.array(Image.open(out / entry["file"]))
        assert (canvas[:, i * (96 + 8) : i * (96 + 8) + 96] == panel).all()


def test_void_pairs_are_replaced_by_further_candidates_and_listed(tmp_path, capsys):
    """Pairs whose two maps are too alike to tell apart are never shown: the next candidates
    take their place, and the manifest and the summary list them."""
    config = tmp_path / "study.toml"
    config.write_text(demo_study_toml("void", images=40, size=64)
                      + '[pairs]\nn = 8\nattention_checks = 1\nmin_map_difference = 0.3\n[output]\ndir = "out"\n')
    torch.manual_seed(0)
    assert generate_main([str(config)]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    real = [p for p in manifest["pairs"] if not p["is_attention_check"]]
    void = manifest["void_pairs"]
    assert len(real) == 8 and len(void) >= 3 and manifest["summary"]["void_pairs"] == len(void)
    assert all(p["map_difference"] >= 0.3 for p in real) and all(v["map_difference"] < 0.3 for v in void)
    assert not {v["pair_id"] for v in void} & {p["pair_id"] for p in real}
    assert f"{len(void)} candidate pair(s) left out as void" in capsys.readouterr().out
    shown = {p["sides"][s]["file"] for p in manifest["pairs"] for s in "AB"}
    assert {f"stimuli/{f.name}" for f in (tmp_path / "out" / "stimuli").iterdir()} - shown == {
        p["original"]["file"] for p in manifest["pairs"]}  # nothing rendered for a void pair


def test_every_candidate_void_is_an_error_that_says_why(tmp_path):
    config = tmp_path / "study.toml"
    config.write_text(demo_study_toml("allvoid", images=6, size=64)
                      + '[pairs]\nmin_map_difference = 0.9\n[output]\ndir = "out"\n')
    torch.manual_seed(0)
    with pytest.raises(CamStudyError, match=r"all \d+ candidate pairs are void.*min_map_difference = 0.9"):
        generate(config)

"""The demo study shows the HiResCAM paper's effect, and how that effect is measured."""
from __future__ import annotations

import json

import pytest

from generator import generate
from generator.rendering.contrast import method_contrast
from generator.settings import demo_config_path


def _pair(g_area, h_area, g_dist=0.2, h_dist=0.0, check=False, a="gradcam"):
    b = "hirescam" if a == "gradcam" else "gradcam"
    metrics = {"gradcam": {"area_above_half": g_area, "faithfulness_distance": g_dist},
               "hirescam": {"area_above_half": h_area, "faithfulness_distance": h_dist}}
    return {"is_attention_check": check,
            "sides": {"A": {"method": None if check else a, "metrics": metrics[a]},
                      "B": {"method": None if check else b, "metrics": metrics[b]}}}


def test_contrast_counts_real_pairs_whatever_side_each_method_is_on():
    pairs = [_pair(0.2, 0.1), _pair(0.11, 0.1, a="hirescam"), _pair(0.3, 0.1, a="hirescam"),
             _pair(0.05, 0.1, g_dist=0.1), _pair(0.9, 0.01, check=True)]
    c = method_contrast({"pairs": pairs})
    assert c.pairs == 4 and c.larger_pairs == 2 and c.larger_share == 0.5
    assert c.area_ratio_median == pytest.approx((2.0 + 1.1) / 2)
    assert c.rms_mean == pytest.approx((0.2 * 3 + 0.1) / 4) and c.rms_uncertainty == 0.0
    assert c.near_identical_pairs == 0


def test_contrast_counts_near_identical_pairs():
    c = method_contrast({"pairs": [_pair(0.2, 0.1, g_dist=0.04), _pair(0.2, 0.1, g_dist=0.06)]})
    assert c.near_identical_pairs == 1 and "1 pairs under 0.05" in c.text()


def test_contrast_without_a_ground_truth_has_no_rms_distance():
    pairs = [_pair(0.2, 0.1)]
    del pairs[0]["sides"]["A"]["metrics"]["faithfulness_distance"]
    c = method_contrast({"pairs": pairs})
    assert c.rms_mean is None and "n/a" in c.text()
    assert method_contrast({"pairs": [_pair(0.2, 0.1, check=True)]}) is None


def test_contrast_prefers_the_pairs_own_map_difference():
    pairs = [_pair(0.2, 0.1, g_dist=0.3, h_dist=0.01), _pair(0.2, 0.1, g_dist=0.3, h_dist=0.01)]
    pairs[0]["map_difference"], pairs[1]["map_difference"] = 0.1, 0.2
    c = method_contrast({"pairs": pairs})
    assert c.rms_mean == pytest.approx(0.15) and c.rms_uncertainty == 0.0
    del pairs[1]["map_difference"]  # not every pair has one: the ground-truth route, with its bound
    c = method_contrast({"pairs": pairs})
    assert c.rms_mean == pytest.approx(0.3) and c.rms_uncertainty == pytest.approx(0.01)


def test_contrast_when_hirescam_has_no_area():
    c = method_contrast({"pairs": [_pair(0.2, 0.0), _pair(0.0, 0.0), _pair(0.3, 0.1)]})
    assert c.area_ratio_median == pytest.approx(3.0) and c.larger_pairs == 2


@pytest.fixture(scope="module")
def demo_study(trained_demo_model, tmp_path_factory):
    """The demo study (generator/demo_study.toml) rendered with the default trained demo model."""
    path, _ = trained_demo_model
    out = tmp_path_factory.mktemp("demo-study")
    (out / "study.toml").write_text(demo_config_path().read_text(encoding="utf-8"), encoding="utf-8")
    manifest = generate(out / "study.toml", out=str(out / "study"), weights=str(path))
    return out / "study", manifest


@pytest.mark.slow
def test_demo_study_shows_the_papers_effect(demo_study):
    """Grad-CAM larger and visibly different from HiResCAM, as in the paper's Figure 4."""
    _, manifest = demo_study
    c = method_contrast(manifest)
    assert c.pairs == 40
    assert c.area_ratio_median >= 1.5, c.text()
    assert c.larger_share >= 0.75, c.text()
    assert c.rms_mean >= 0.15, c.text()
    assert manifest["summary"]["void_pairs"] <= 2  # the void-pair filter rarely fires
    assert "more than 10% larger in" in (demo_study[0] / "gallery.html").read_text()


@pytest.mark.slow
def test_hirescam_stays_exactly_faithful_in_the_demo(demo_study):
    """On the flatten head HiResCAM is the ground-truth contribution map, which sums to the
    logit minus the bias."""
    study_dir, manifest = demo_study
    evaluation = json.loads((study_dir / "evaluation.json").read_text())
    assert evaluation["faithfulness"]["defined"]
    assert evaluation["faithfulness"]["max_completeness_error"] < 1e-3
    hirescam = [s["metrics"] for p in manifest["pairs"] for s in p["sides"].values() if s["method"] == "hirescam"]
    assert len(hirescam) == 40 and max(m["faithfulness_distance"] for m in hirescam) < 1e-5

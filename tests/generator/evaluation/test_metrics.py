"""The objective numbers: faithfulness against a linear head's ground truth, and map metrics
checked on hand-made maps and masks whose values can be worked out on paper."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from generator.engine.cams import compute_cams
from generator.engine.models import load_model
from generator.evaluation import faithfulness as faith
from generator.evaluation import localization, shape
from generator.inputs.demo_model import build_demo_cnn
from generator.rendering.overlay import relu_normalize


def explain(model, images, targets, layer):
    found = faith.candidate_linear(model, layer)
    name, linear = found if found else (None, None)
    with faith.capture_head(model, layer, linear) as seen:
        result = compute_cams(model, images, targets, layer)
    return result, seen, name, linear


def test_hirescam_is_the_ground_truth_on_a_flatten_head_and_gradcam_is_not():
    torch.manual_seed(0)
    model = build_demo_cnn(num_classes=5, input_size=96).eval()
    images, targets = torch.randn(4, 3, 96, 96), torch.tensor([0, 1, 2, 4])
    result, seen, name, linear = explain(model, images, targets, "features")

    assert name == "fc" and faith.head_reason(seen, result.logits, name) is None
    truth = faith.ground_truth(linear, seen.activation, result.targets)
    assert faith.completeness_error(linear, truth, result.logits, result.targets) < 1e-4
    truth01 = relu_normalize(truth)
    hires = faith.rms_distance(relu_normalize(result.maps["hirescam"]), truth01)
    grad = faith.rms_distance(relu_normalize(result.maps["gradcam"]), truth01)
    assert hires.max() < 1e-6
    assert grad.min() > 0.01
    assert faith.spearman(relu_normalize(result.maps["hirescam"]), truth01) == pytest.approx([1.0] * 4)


def test_a_global_pooling_head_has_no_ground_truth_and_both_methods_agree():
    torch.manual_seed(0)
    model = load_model("resnet18", num_classes=3, head="gap", input_size=64)
    images, targets = torch.randn(2, 3, 64, 64), torch.tensor([0, 2])
    result, seen, name, _ = explain(model, images, targets, "layer4")

    reason = faith.head_reason(seen, result.logits, name)
    assert reason and "takes 512 inputs" in reason and "512×2×2 = 2048" in reason
    torch.testing.assert_close(result.maps["gradcam"], result.maps["hirescam"], rtol=1e-4, atol=1e-6)


def test_iou_at_thresholds_on_a_hand_made_map():
    # Map values 0.1, 0.3 (top) and 0.6, 0.9 (bottom) in the four quadrants of a 4x4 image.
    m = torch.zeros(1, 4, 4)
    m[0, :2, :2], m[0, :2, 2:], m[0, 2:, :2], m[0, 2:, 2:] = 0.1, 0.3, 0.6, 0.9
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, :, 2:] = True  # the 0.3 and 0.9 quadrants
    iou = localization.iou_at(m, mask, (0.2, 0.5, 0.8, 0.95))[0].tolist()
    # > 0.2: three quadrants (12 px), mask 8 px, overlap 8 -> 8/12
    # > 0.5: 0.6 and 0.9 quadrants (8 px), overlap 4 -> 4/12
    # > 0.8: the 0.9 quadrant (4 px) inside the mask -> 4/8
    # > 0.95: nothing -> 0/8
    assert iou == pytest.approx([8 / 12, 4 / 12, 4 / 8, 0.0])


def test_pointing_game_and_energy_inside():
    m = torch.zeros(2, 3, 3)
    m[0, 1, 1], m[0, 0, 0] = 1.0, 0.5          # peak at the centre
    m[1, 2, 2], m[1, 1, 1] = 1.0, 0.25         # peak in a corner
    mask = torch.zeros(2, 3, 3, dtype=torch.bool)
    mask[:, 1, 1] = True
    assert localization.pointing_hit(m, mask).tolist() == [1.0, 0.0]
    assert localization.energy_inside(m, mask).tolist() == pytest.approx([1 / 1.5, 0.25 / 1.25])


def test_undefined_values_are_nan():
    m, empty = torch.zeros(1, 3, 3), torch.zeros(1, 3, 3, dtype=torch.bool)
    assert math.isnan(localization.pointing_hit(m, empty)[0])
    assert math.isnan(localization.energy_inside(torch.ones(1, 3, 3), empty)[0])
    assert math.isnan(localization.iou_at(m, empty, (0.5,))[0, 0])


def test_segmentation_iou_sums_over_images_and_averages_over_classes():
    tally = localization.SegmentationTally(0.5)
    maps = torch.tensor([[[1.0, 1.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]]])
    masks = torch.tensor([[[True, False], [False, False]], [[True, True], [False, False]],
                          [[False, False], [False, True]]])
    tally.add("m", ["cat", "cat", "dog"], maps, masks)
    # cat: intersections 1 + 1, unions 2 + 2 -> 0.5; dog: 1/1
    assert tally.class_iou() == {"cat": {"m": 0.5}, "dog": {"m": 1.0}}
    assert tally.miou() == {"m": 0.75}


def test_blobs_are_8_connected_components():
    r = torch.zeros(1, 6, 6, dtype=torch.bool)
    r[0, 0, 0] = r[0, 1, 1] = True             # diagonal neighbours: one blob
    r[0, 4:6, 0:3] = True                      # a bar: a second blob
    r[0, 0, 5] = True                          # a lone pixel: a third
    r[0, 2, 3:5] = True                        # a short bar touching nothing: a fourth
    assert shape.count_blobs(r).tolist() == [4]
    assert shape.count_blobs(torch.zeros(1, 4, 4, dtype=torch.bool)).tolist() == [0]
    snake = torch.zeros(1, 5, 5, dtype=torch.bool)
    snake[0, 0, :], snake[0, 1, 4], snake[0, 2, :], snake[0, 3, 0], snake[0, 4, :] = True, True, True, True, True
    assert shape.count_blobs(snake).tolist() == [1]


def test_roundness_of_a_square_a_bar_and_nothing():
    square, bar, empty = (torch.zeros(1, 8, 8, dtype=torch.bool) for _ in range(3))
    square[0, 2:6, 2:6] = True
    bar[0, 3, 0:8] = True
    r = shape.roundness(torch.cat([square, bar, empty])).tolist()
    assert r[0] == pytest.approx(1.0)
    # a 1x8 bar: variances 1/12 and (8^2 - 1)/12 + 1/12 = 64/12 -> sqrt(1/64)
    assert r[1] == pytest.approx(1 / 8)
    assert math.isnan(r[2])


def test_area_and_entropy_match_their_definitions():
    m = torch.zeros(1, 2, 4)
    m[0, 0, :2] = 1.0
    assert shape.area_above(m).tolist() == [0.25]
    assert shape.entropy_bits(m).tolist() == pytest.approx([1.0])  # two equal pixels: 1 bit


def test_rank_correlation_averages_ties_like_scipy():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, size=(3, 30)).astype(float)
    b = a + rng.integers(0, 3, size=(3, 30))
    ours = faith.spearman(torch.from_numpy(a), torch.from_numpy(b))
    assert ours == pytest.approx([stats.spearmanr(x, y).statistic for x, y in zip(a, b)])
    assert faith.average_ranks(np.array([5.0, 1.0, 5.0, 3.0])).tolist() == [3.5, 1.0, 3.5, 2.0]
    assert math.isnan(faith.spearman(torch.ones(1, 4), torch.arange(4.0)[None])[0])

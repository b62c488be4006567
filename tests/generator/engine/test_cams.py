"""The CAM engine against identities, a hand-computed example and bad input."""
from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from generator.engine.cams import METHODS, compute_cams
from generator.engine.models import load_model
from generator.errors import CamInputError, TargetLayerError

SIZE = 64  # small inputs keep the suite fast; the identities do not depend on size


def images(n: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, SIZE, SIZE, generator=g, dtype=dtype)


def capture_activations(model: nn.Module, layer: str, x: torch.Tensor) -> torch.Tensor:
    """The target layer's output, read independently of the engine."""
    out = {}
    def hook(module, inputs, output):
        out["a"] = output.detach().clone()

    handle = dict(model.named_modules())[layer].register_forward_hook(hook)
    with torch.no_grad():
        model.eval()(x)
    handle.remove()
    return out["a"]


@pytest.fixture(scope="module")
def resnet_v():
    torch.manual_seed(0)
    return load_model("resnet18", num_classes=7, head="flatten", input_size=SIZE)


@pytest.fixture(scope="module")
def resnet_gap():
    torch.manual_seed(1)
    return load_model("resnet18", num_classes=7, head="gap").double()


def test_flatten_head_hirescam_sums_to_logit_minus_bias(resnet_v):
    x, targets = images(6), torch.tensor([0, 1, 2, 3, 4, 6])
    result = compute_cams(resnet_v, x, targets)
    logit = result.scores()
    bias = resnet_v.fc.bias.detach()[targets]
    total = result.maps["hirescam"].sum(dim=(1, 2))
    torch.testing.assert_close(total + bias, logit, rtol=1e-4, atol=1e-5)


def test_flatten_head_gradcam_does_not_sum_to_logit(resnet_v):
    x, targets = images(6), torch.tensor([0, 1, 2, 3, 4, 6])
    result = compute_cams(resnet_v, x, targets)
    gap = (result.maps["gradcam"].sum(dim=(1, 2)) + resnet_v.fc.bias.detach()[targets] - result.scores()).abs()
    assert (gap > 1e-2 * result.scores().abs().clamp_min(1e-3)).any()


def test_gap_head_gradcam_equals_hirescam_equals_cam_over_hw(resnet_gap):
    x, targets = images(4, dtype=torch.float64), torch.tensor([3, 0, 6, 3])
    result = compute_cams(resnet_gap, x, targets, "layer4", methods=("gradcam", "hirescam", "cam"))
    acts = capture_activations(resnet_gap, "layer4", x)
    weights = resnet_gap.fc.weight.detach()[targets]  # B×K
    cam_oracle = torch.einsum("bk,bkhw->bhw", weights, acts)
    hw = acts.shape[-1] * acts.shape[-2]
    torch.testing.assert_close(result.maps["gradcam"], result.maps["hirescam"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(result.maps["hirescam"], cam_oracle / hw, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(result.maps["cam"], cam_oracle, rtol=1e-5, atol=1e-5)


def test_cam_method_refuses_a_flatten_head(resnet_v):
    with pytest.raises(CamInputError, match="global-average-pooling"):
        compute_cams(resnet_v, images(1), [0], methods=("cam",))


def figure3_model() -> nn.Module:
    """Two 2×2 feature maps fed straight into one flatten + linear output (bias 0.5)."""
    model = nn.Sequential(OrderedDict(features=nn.Identity(), flatten=nn.Flatten(), fc=nn.Linear(8, 1)))
    with torch.no_grad():
        model.fc.weight.copy_(torch.tensor([[1.0, 2, 0, -1, 2, 0, 1, 1]]))
        model.fc.bias.fill_(0.5)
    return model


def test_hand_computed_example_gives_exact_maps():
    # A1 = [[1,0],[0,2]], A2 = [[0,3],[1,0]]; W1 = [[1,2],[0,-1]], W2 = [[2,0],[1,1]].
    x = torch.tensor([[[[1.0, 0], [0, 2]], [[0, 3], [1, 0]]]])
    result = compute_cams(figure3_model(), x, [0], "features")
    # HiResCAM: W1*A1 + W2*A2 element-wise.
    assert result.maps["hirescam"].tolist() == [[[1.0, 0.0], [1.0, -2.0]]]
    # Grad-CAM: mean(W1) = 0.5, mean(W2) = 1, so 0.5*A1 + 1*A2.
    assert result.maps["gradcam"].tolist() == [[[0.5, 3.0], [1.0, 1.0]]]
    assert result.logits.tolist() == [[0.5]]  # 1 + 0 + 1 - 2 + bias 0.5


def test_batch_equals_single_image_calls(resnet_v):
    x, targets = images(5, seed=3), [4, 4, 0, 2, 6]
    batch = compute_cams(resnet_v, x, targets)
    for i in range(5):
        single = compute_cams(resnet_v, x[i : i + 1], [targets[i]])
        for method in ("gradcam", "hirescam"):
            torch.testing.assert_close(batch.maps[method][i : i + 1], single.maps[method], rtol=1e-4, atol=1e-5)


def test_float64_matches_float32(resnet_v):
    x, targets = images(2, seed=4), [1, 5]
    r32 = compute_cams(resnet_v, x, targets)
    model64 = load_model("resnet18", num_classes=7, head="flatten", input_size=SIZE)
    model64.load_state_dict(resnet_v.state_dict())
    r64 = compute_cams(model64.double(), x.double(), targets)
    for method in ("gradcam", "hirescam"):
        torch.testing.assert_close(r32.maps[method].double(), r64.maps[method], rtol=1e-3, atol=1e-4)


def test_no_parameter_gradients_and_no_graph_below_the_target(resnet_v):
    below = {}

    def hook(module, inputs, output):
        below["grad"] = output.requires_grad

    handle = resnet_v.features.layer1.register_forward_hook(hook)
    compute_cams(resnet_v, images(2), [0, 1])
    handle.remove()
    assert below["grad"] is False
    assert all(p.grad is None for p in resnet_v.parameters())


def test_mode_and_grad_state_are_restored(resnet_v):
    resnet_v.train()
    compute_cams(resnet_v, images(2), [0, 1])
    assert resnet_v.training and torch.is_grad_enabled()
    resnet_v.eval()


def test_densenet_with_in_place_relu_after_the_target_layer():
    torch.manual_seed(2)
    model = load_model("densenet121", num_classes=3)
    x = images(2)
    result = compute_cams(model, x, [0, 2])
    assert result.maps["hirescam"].shape == (2, 2, 2)
    with torch.no_grad():
        torch.testing.assert_close(result.logits, model(x))


def test_maps_are_on_feature_resolution_and_logits_raw(resnet_v):
    x = images(3)
    result = compute_cams(resnet_v, x, [0, 1, 2])
    assert result.maps["gradcam"].shape == (3, SIZE // 32, SIZE // 32)
    with torch.no_grad():
        torch.testing.assert_close(result.logits, resnet_v(x))  # pre-softmax


def test_registry_names():
    assert {"gradcam", "hirescam", "cam"} <= set(METHODS)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: compute_cams(m, torch.zeros(3, SIZE, SIZE), [0]), "B×C×H×W"),
        (lambda m: compute_cams(m, images(2), [0]), "one target class per image"),
        (lambda m: compute_cams(m, images(2), [0, 7]), r"out of range for 7 classes"),
        (lambda m: compute_cams(m, images(1), [-1]), r"out of range"),
        (lambda m: compute_cams(m, images(1), [0], "layer9"), r"no layer named 'layer9'.*features.layer4"),
        (lambda m: compute_cams(m, images(1), [0], methods=("scorecam",)), "unknown CAM method"),
    ],
)
def test_bad_input_names_the_problem(resnet_v, call, message):
    with pytest.raises((CamInputError, TargetLayerError), match=message):
        call(resnet_v)

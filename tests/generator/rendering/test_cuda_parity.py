"""The generator on a CUDA GPU: the same study as on the CPU (the same pairs and sides, the
same raw maps within 1e-4 of their scale, stimuli the same to the eye), and everything but
the encoded files stays on the device (maps, overlays, metrics). Skipped, with the reason,
where there is no CUDA GPU; benchmarks/gpu_check.sh runs them where there is."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils._pytree import tree_leaves
from torch.utils._python_dispatch import TorchDispatchMode

from generator import generate
from generator.rendering.pipeline import render_pairs
from generator.rendering.run import prepare_run, select_jobs
from tests.generator.helpers import demo_study_toml

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA GPU here: benchmarks/gpu_check.sh runs these where there is one")

CONFIG = demo_study_toml("parity", images=40, size=64) + """[pairs]
n = 32
seed = 2
attention_checks = 2
min_map_difference = 0.0
[output]
dir = "{out}"
"""


@pytest.fixture(scope="module")
def cpu_and_cuda(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parity")
    (tmp / "study.toml").write_text(CONFIG.format(out="out"))
    studies = {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)  # the demo CNN's random weights: the same model on both
        studies[device] = (generate(tmp / "study.toml", out=str(tmp / device), device=device), tmp / device)
    return studies


def test_both_devices_explain_the_same_model_with_the_same_pairs_and_sides(cpu_and_cuda):
    (cpu, _), (cuda, _) = cpu_and_cuda["cpu"], cpu_and_cuda["cuda"]
    assert cuda["device"].startswith("cuda") and cpu["device"] == "cpu"
    assert cpu["model"]["sha256"] == cuda["model"]["sha256"]
    key = lambda m: [(p["pair_id"], p["sides"]["A"]["method"], p["sides"]["B"]["method"]) for p in m["pairs"]]  # noqa: E731
    assert key(cpu) == key(cuda)


def test_raw_maps_agree_within_1e_4_of_their_scale(cpu_and_cuda):
    (_, cpu_dir), (_, cuda_dir) = cpu_and_cuda["cpu"], cpu_and_cuda["cuda"]
    with np.load(cpu_dir / "raw_maps.npz") as a, np.load(cuda_dir / "raw_maps.npz") as b:
        assert a.files == b.files and len(a.files) >= 3 * 32
        for k in a.files:
            scale = max(float(np.abs(a[k]).max()), 1e-12)
            assert float(np.abs(a[k] - b[k]).max()) <= 1e-4 * scale, k


def test_stimuli_look_the_same_and_metrics_agree(cpu_and_cuda):
    (cpu, cpu_dir), (cuda, cuda_dir) = cpu_and_cuda["cpu"], cpu_and_cuda["cuda"]
    for p, q in zip(cpu["pairs"], cuda["pairs"]):
        for side in "AB":
            x = np.asarray(Image.open(io.BytesIO((cpu_dir / p["sides"][side]["file"]).read_bytes())), dtype=np.int16)
            y = np.asarray(Image.open(io.BytesIO((cuda_dir / q["sides"][side]["file"]).read_bytes())), dtype=np.int16)
            diff = np.abs(x - y)
            # a map value on a colour-table boundary may round to the neighbouring entry
            assert diff.max() <= 6 and diff.mean() < 0.1, (p["pair_id"], side, diff.max(), diff.mean())
            for name, value in p["sides"][side]["metrics"].items():
                other = q["sides"][side]["metrics"][name]
                assert np.allclose(value, other, atol=2e-3), (name, value, other)
        if not p["is_attention_check"]:
            assert abs(p["map_difference"] - q["map_difference"]) < 1e-3


class DeviceToHost(TorchDispatchMode):
    """Counts the bytes of every tensor op that takes CUDA tensors and gives a CPU one."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes, self.copies = 0, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if any(isinstance(t, torch.Tensor) and t.is_cuda for t in tree_leaves((args, kwargs))):
            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor) and t.device.type == "cpu":
                    self.bytes += t.numel() * t.element_size()
                    self.copies.append((str(func), tuple(t.shape), t.dtype))
        return out


def test_only_encoded_stimuli_and_small_results_leave_the_device(tmp_path):
    """Maps, overlays and metrics are computed on the GPU: what crosses to the host is each
    stimulus's scanlines (the layout-free PNG's payload), each original photo's pixels (for
    its PNG encoder), the raw feature-resolution maps and logits (raw_maps.npz) and a few
    numbers per pair. A display-resolution map or a float overlay crossing would exceed it."""
    (tmp_path / "study.toml").write_text(CONFIG.format(out="out"))
    torch.manual_seed(0)
    run, source, index_of = prepare_run(tmp_path / "study.toml", device="cuda")
    jobs = select_jobs(run, source, index_of)
    with DeviceToHost() as seen:
        done = render_pairs(run, source, jobs, 32, workers=0)  # dispatch modes are per thread
    n, size, classes = len(done), run.display_size, len(run.setup.class_names)
    raw = sum(r.nbytes for r in done[0].raw.values())
    allowed = n * (2 * size * (1 + 3 * size) + 3 * size * size + raw + 4 * classes + 256)
    assert n == 32 and 0 < seen.bytes <= allowed, (seen.bytes, allowed, seen.copies[:20])

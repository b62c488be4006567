"""End-to-end stimulus rendering throughput, as ratios measured in one run.

    python benchmarks/generator_bench.py [--arch resnet18] [--pairs 64] [--batch 16] [--size 224] [--device auto]

Three measurements on the same images, model and device:
1. forward only (torch.inference_mode), the reference;
2. camstudy's path per batch: normalise, compute_cams (Grad-CAM + HiResCAM from one
   forward/backward), ReLU + min-max, upsampling, colormap, blending, PNG encoding and
   writing both overlays to disk;
3. when the `grad-cam` package is importable: pytorch-grad-cam's GradCAM and HiResCAM
   objects, its `show_cam_on_image`, and PNG writing with Pillow — the usual way such
   stimuli are made.
Reported as pairs/s and as ratios to (1) and to (3).
"""
from __future__ import annotations

import argparse
import io
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from generator import render
from generator.cams import compute_cams
from generator.encode import encode_batch
from generator.models import load_model
from generator.preprocess import Preprocess
from generator.storage import write_if_changed


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def load_crops(paths, prep, device):
    from PIL import Image

    return torch.stack([prep.display(Image.open(p).convert("RGB")) for p in paths]).to(device)


def camstudy_batch(model, paths, targets, prep, out: Path, settings, counter):
    crops = load_crops(paths, prep, targets.device)
    x = prep.normalize(crops)
    result = compute_cams(model, x, targets, "layer4", ("gradcam", "hirescam"))
    size = crops.shape[-1]
    table = render.colormap(settings.colormap, crops.device)
    for method, raw in result.maps.items():
        maps01 = render.upsample(render.relu_normalize(raw), size, size)
        render.map_metrics(maps01)
        heat = render.apply_colormap(maps01, table)
        for data in encode_batch(render.blend(crops, heat, settings.alpha), "png"):
            counter[0] += 1
            write_if_changed(out / f"{counter[0]}.png", data)


def gradcam_batch(model, paths, targets, prep, out: Path, counter):
    from PIL import Image

    crops = load_crops(paths, prep, targets.device)
    from pytorch_grad_cam import GradCAM, HiResCAM
    from pytorch_grad_cam.utils.image import show_cam_on_image
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    x = prep.normalize(crops)
    rgb = (crops.permute(0, 2, 3, 1).cpu().numpy() / 255.0).astype(np.float32)
    cls_targets = [ClassifierOutputTarget(int(t)) for t in targets]
    for cls in (GradCAM, HiResCAM):
        with cls(model=model, target_layers=[model.layer4]) as cam:
            maps = cam(input_tensor=x, targets=cls_targets)
        for img, m in zip(rgb, maps):
            overlay = show_cam_on_image(img, m, use_rgb=True)
            buf = io.BytesIO()
            Image.fromarray(overlay).save(buf, format="PNG", compress_level=1)  # same level as ours
            counter[0] += 1
            (out / f"g{counter[0]}.png").write_bytes(buf.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-gradcam", action="store_true", help="skip the pytorch-grad-cam comparison")
    args = parser.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    torch.manual_seed(0)
    model = load_model(args.arch, num_classes=1000).to(device).eval()
    prep = Preprocess(resize=None, crop=args.size)
    g = torch.Generator().manual_seed(0)
    from generator.demo_data import make_scene

    # Realistic content (shapes on textures), not noise: PNG speed depends on it.
    crops = torch.stack([torch.from_numpy(make_scene(7, i, size=args.size).image).permute(2, 0, 1)
                         for i in range(args.pairs)])
    targets = torch.randint(0, 1000, (args.pairs,), generator=g)
    settings = render.RenderSettings()
    inputs = Path(tempfile.mkdtemp(prefix="camstudy-bench-"))
    paths = []
    for i, img in enumerate(crops):  # real files to load, as a study would
        from PIL import Image

        paths.append(inputs / f"{i}.jpg")
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(paths[-1], quality=90)
    batches = [(paths[i : i + args.batch], targets[i : i + args.batch].to(device))
               for i in range(0, args.pairs, args.batch)]
    gpu_crops = [crops[i : i + args.batch].to(device) for i in range(0, args.pairs, args.batch)]
    have_gradcam = not args.no_gradcam
    if have_gradcam:
        try:
            import pytorch_grad_cam  # noqa: F401
        except ImportError:
            have_gradcam = False

    def forward_only():
        with torch.inference_mode():
            for c in gpu_crops:
                model(prep.normalize(c))

    def ours(out):
        counter = [0]
        for c, t in batches:
            camstudy_batch(model, c, t, prep, out, settings, counter)

    def theirs(out):
        counter = [0]
        for c, t in batches:
            gradcam_batch(model, c, t, prep, out, counter)

    timings = {"forward": [], "camstudy": [], "grad-cam": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        forward_only(), ours(tmp)  # warm-up
        for r in range(args.repeats):
            for name, fn in (("forward", forward_only), ("camstudy", lambda: ours(tmp / f"o{r}")),
                             ("grad-cam", lambda: theirs(tmp / f"g{r}"))):
                if name == "grad-cam" and not have_gradcam:
                    continue
                (tmp / f"o{r}").mkdir(exist_ok=True), (tmp / f"g{r}").mkdir(exist_ok=True)
                sync(device)
                start = time.perf_counter()
                fn()
                sync(device)
                timings[name].append(time.perf_counter() - start)
    rate = {k: args.pairs / statistics.median(v) for k, v in timings.items() if v}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    print(f"machine: {device.type} ({name}), {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{args.arch}, {args.size} px, batch {args.batch}, {args.pairs} pairs, median of {args.repeats}")
    print(f"forward only:        {rate['forward']:8.1f} images/s")
    print(f"camstudy end to end: {rate['camstudy']:8.1f} pairs/s  ({rate['camstudy'] / rate['forward']:.2f} of forward-only)")
    if "grad-cam" in rate:
        print(f"pytorch-grad-cam:    {rate['grad-cam']:8.1f} pairs/s  "
              f"(camstudy is {rate['camstudy'] / rate['grad-cam']:.1f}x faster)")
    else:
        print("pytorch-grad-cam:    not installed (pip install grad-cam) - comparison skipped")


if __name__ == "__main__":
    main()

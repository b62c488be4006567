"""End-to-end stimulus rendering throughput, as ratios measured in one run.

    python benchmarks/generator_bench.py [--arch resnet18] [--pairs 64] [--batch 16] [--size 224]
        [--device auto] [--workers 0 1 2] [--repeats 3]

Measurements on the same images, model and device, interleaved, median of ``--repeats``:
1. forward only (torch.inference_mode) on the loaded crops, the reference;
2. camstudy's own batch loop, ``generator.rendering.pipeline.render_pairs`` on a study prepared by
   ``prepare_run`` from a study.toml (folder of JPEG files, one class per image): loading and
   cropping each image, one forward/backward for Grad-CAM and HiResCAM, the void-pair check,
   ReLU + min-max, upsampling, colormap, blending, metrics, layout-free PNG encoding of both
   sides, the original as a compressed PNG, hashing and writing — once per ``--workers``
   value (0: serial; N: the rendering after the maps overlapped with the next batch's model
   work in N threads);
3. when the ``grad-cam`` package is importable: pytorch-grad-cam's GradCAM and HiResCAM
   objects, its ``show_cam_on_image``, and PNG writing with Pillow (zlib level 1) of both
   overlays and of the original crop (the same three files per pair as camstudy) — the usual
   way such stimuli are made.

The model is ``--arch`` with a flatten head ("v" model, 1000 classes, random weights): on a
global-average-pooling head Grad-CAM = HiResCAM and `camstudy generate` refuses the study,
so the benchmark uses the kind of model a study needs. On CUDA the peak GPU memory of each
measurement is reported too.
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.engine.layers import resolve_layer  # noqa: E402
from generator.rendering.pipeline import render_pairs  # noqa: E402
from generator.rendering.run import prepare_run, select_jobs  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def write_inputs(folder: Path, n: int, size: int, classes: int) -> list[Path]:
    """``n`` demo scenes (shapes on textures, not noise: PNG and JPEG speed depend on content)
    as JPEG files, a labels.csv giving image i the class i*37 mod ``classes``, and study.toml."""
    from PIL import Image

    from generator.inputs.demo_data import make_scene

    folder.mkdir(parents=True, exist_ok=True)
    paths, rows = [], ["image,class"]
    for i in range(n):
        paths.append(folder / f"{i}.jpg")
        Image.fromarray(make_scene(7, i, size=size).image).save(paths[-1], quality=90)
        rows.append(f"{i}.jpg,c{i * 37 % classes}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return paths


def study_toml(args, classes: int) -> str:
    names = ", ".join(f'"c{k}"' for k in range(classes))
    return (f'[study]\nid = "bench"\n[model]\narch = "{args.arch}"\nhead = "flatten"\nnum_classes = {classes}\n'
            f'class_names = [{names}]\nbatch_size = {args.batch}\ndevice = "{args.device}"\n'
            f'[images]\nsource = "folder"\nfolder = "images"\ncsv = "images/labels.csv"\n'
            f"resize = {args.size}\ncrop = {args.size}\n"
            f"[pairs]\nn = {args.pairs}\nattention_checks = 0\nmin_map_difference = 0.0\n"
            '[output]\ndir = "out"\n')


def gradcam_pass(model, layer, jobs, source, prep, device, out: Path) -> None:
    """pytorch-grad-cam's usual way, batch by batch, on the same files."""
    from PIL import Image
    from pytorch_grad_cam import GradCAM, HiResCAM
    from pytorch_grad_cam.utils.image import show_cam_on_image
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for batch in jobs:
        crops = torch.stack([prep.display(source.load(j.record)) for j in batch]).to(device)
        x = prep.normalize(crops)
        rgb = (crops.permute(0, 2, 3, 1).cpu().numpy() / 255.0).astype(np.float32)
        targets = [ClassifierOutputTarget(j.class_index) for j in batch]
        for img in crops.permute(0, 2, 3, 1).cpu().numpy():  # the original, shown beside the pair
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG", compress_level=1)
            n += 1
            (out / f"o{n}.png").write_bytes(buf.getvalue())
        for cls in (GradCAM, HiResCAM):
            with cls(model=model, target_layers=[layer]) as cam:
                maps = cam(input_tensor=x, targets=targets)
            for img, m in zip(rgb, maps):
                buf = io.BytesIO()
                Image.fromarray(show_cam_on_image(img, m, use_rgb=True)).save(buf, format="PNG", compress_level=1)
                n += 1
                (out / f"g{n}.png").write_bytes(buf.getvalue())


def timed(device: torch.device, fn) -> tuple[float, float, int]:
    """Seconds ``fn`` took, the process's CPU seconds (all threads) and, on CUDA, its peak
    memory in bytes above what was allocated before."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
    sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return seconds, cpu, (torch.cuda.max_memory_allocated(device) - base if device.type == "cuda" else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1],
                        help="render worker counts to measure (0 = serial; default 0 1)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads of the main thread (0: torch's default, one per core)")
    parser.add_argument("--no-gradcam", action="store_true", help="skip the pytorch-grad-cam comparison")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (1 <= args.pairs <= 10_000 and 1 <= args.batch <= 512 and 1 <= args.repeats <= 20):
        parser.error("bounded: --pairs 1-10000, --batch 1-512, --repeats 1-20")
    have_gradcam = not args.no_gradcam
    if have_gradcam:
        try:
            import pytorch_grad_cam  # noqa: F401
        except ImportError:
            have_gradcam = False

    work = Path(tempfile.mkdtemp(prefix="camstudy-bench-"))
    write_inputs(work / "images", args.pairs, args.size, 1000)
    (work / "study.toml").write_text(study_toml(args, 1000))
    torch.manual_seed(0)
    run, source, index_of = prepare_run(work / "study.toml")
    device, model, prep = run.device, run.setup.model, run.prep
    jobs = select_jobs(run, source, index_of)
    crops = torch.stack([prep.display(source.load(j.record)) for j in jobs]).to(device)
    batches = [crops[i : i + args.batch] for i in range(0, len(crops), args.batch)]
    job_batches = [jobs[i : i + args.batch] for i in range(0, len(jobs), args.batch)]
    layer = resolve_layer(model, run.setup.target_layer)

    def forward_only():
        with torch.inference_mode():
            for c in batches:
                model(prep.normalize(c))

    def camstudy(workers: int, out: Path):
        def go():
            run.out_dir, run.written, run.reused, run.void = out, 0, 0, []
            done = render_pairs(run, source, jobs, len(jobs), workers=workers)
            assert len(done) == len(jobs), (len(done), len(jobs))
        return go

    names = ["forward"] + [f"camstudy w={w}" for w in args.workers] + (["grad-cam"] if have_gradcam else [])
    timings = {name: [] for name in names}
    cpu = {name: [] for name in names}
    peaks = dict.fromkeys(names, 0)
    forward_only(), camstudy(args.workers[-1], work / "warm")()  # warm-up
    for r in range(args.repeats):
        for name in names:
            out = work / f"{name.replace(' ', '_')}-{r}"
            if name == "forward":
                fn = forward_only
            elif name == "grad-cam":
                fn = lambda: gradcam_pass(model, layer, job_batches, source, prep, device, out)  # noqa: E731
            else:
                fn = camstudy(int(name.split("=")[1]), out)
            seconds, cpu_s, peak = timed(device, fn)
            timings[name].append(seconds)
            cpu[name].append(cpu_s)
            peaks[name] = max(peaks[name], peak)
    rate = {k: args.pairs / statistics.median(v) for k, v in timings.items()}
    cpu_ms = {k: statistics.median(v) / args.pairs * 1000 for k, v in cpu.items()}  # CPU ms per image or pair
    hw = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    print(f"machine: {device.type} ({hw}), {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{args.arch} (flatten head, 1000 classes), {args.size} px, batch {args.batch}, {args.pairs} pairs, "
          f"median of {args.repeats}")

    def mem(name):
        return f", peak GPU memory {peaks[name] / 2**20:.0f} MiB" if device.type == "cuda" else ""

    def work(name):  # CPU time per pair relative to forward-only's per image: the work, whatever the load
        return f"; CPU {cpu_ms[name]:.0f} ms per pair = {cpu_ms[name] / cpu_ms['forward']:.2f}x forward-only's"

    print(f"forward only:          {rate['forward']:8.1f} images/s; CPU {cpu_ms['forward']:.0f} ms per image"
          f"{mem('forward')}")
    for name in names[1:]:
        if name == "grad-cam":
            continue
        line = f"{name + ':':22} {rate[name]:8.1f} pairs/s  ({rate[name] / rate['forward']:.2f} of forward-only"
        if have_gradcam:
            line += f", {rate[name] / rate['grad-cam']:.1f}x pytorch-grad-cam"
        print(line + ")" + work(name) + mem(name))
    if have_gradcam:
        print(f"pytorch-grad-cam:      {rate['grad-cam']:8.1f} pairs/s{work('grad-cam')}{mem('grad-cam')}")
    else:
        print("pytorch-grad-cam:      not installed (pip install grad-cam) - comparison skipped")
    print("all runs (s): " + "; ".join(f"{k} " + " ".join(f"{t:.2f}" for t in v) for k, v in timings.items()))


if __name__ == "__main__":
    main()

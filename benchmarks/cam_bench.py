"""CAM engine throughput next to forward-only throughput, same model, batch, device.

    python benchmarks/cam_bench.py [--arch resnet18] [--batch 16] [--size 224] [--device auto]

Both are measured in one run, interleaved (forward, cams, forward, cams, ...) so that
machine load affects both alike; the figure that matters is the ratio.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from generator.cams import compute_cams
from generator.models import load_model


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--head", default="gap", choices=["gap", "flatten"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    torch.manual_seed(0)
    model = load_model(args.arch, num_classes=1000, head=args.head, input_size=args.size).to(device).eval()
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    targets = torch.randint(0, 1000, (args.batch,), device=device)

    def forward_only():
        with torch.inference_mode():
            model(x)

    def cams():
        compute_cams(model, x, targets, methods=("gradcam", "hirescam"))

    for _ in range(2):  # warm-up
        forward_only()
        cams()
    fwd, cam = [], []
    for _ in range(args.repeats):
        fwd.append(timed(forward_only, device))
        cam.append(timed(cams, device))
    fwd_rate = args.batch / statistics.median(fwd)
    cam_rate = args.batch / statistics.median(cam)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"machine: {device.type} ({name}), {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"model: {args.arch} head={args.head}, {args.size} px, batch {args.batch}, median of {args.repeats}")
    print(f"forward only:             {fwd_rate:8.1f} images/s")
    print(f"compute_cams (gradcam+hirescam): {cam_rate:8.1f} images/s")
    print(f"ratio cams / forward-only: {cam_rate / fwd_rate:.3f}")


if __name__ == "__main__":
    main()

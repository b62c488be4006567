"""How clearly a rendered study shows Grad-CAM's and HiResCAM's difference (issue 15).

    python benchmarks/demo_effect.py STUDY_DIR            # a rendered study (its manifest.json)
    python benchmarks/demo_effect.py --demo [--seed 0]     # train the demo CNN, render the demo study

Prints the three numbers of generator.rendering.contrast (median area ratio, share of pairs
where Grad-CAM is >10% larger, mean RMS distance between the normalised maps) and,
with --demo, the training time and the held-out accuracy. The demo study's targets:
ratio >= 1.5, share >= 75%, RMS >= 0.15.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from generator.rendering.contrast import method_contrast


def report(study_dir: Path) -> None:
    manifest = json.loads((study_dir / "manifest.json").read_text(encoding="utf-8"))
    contrast = method_contrast(manifest)
    if contrast is None:
        raise SystemExit(f"{study_dir}: no Grad-CAM/HiResCAM pairs in the manifest")
    print(contrast.text())
    void = manifest.get("void_pairs") or []
    print(f"void pairs replaced ([pairs] min_map_difference): {len(void)}")


def run_demo(seed: int, work: Path) -> Path:
    """`make demo`'s first two steps in ``work``: train the demo CNN, render the demo study."""
    from generator import demo_config_path, generate, train_demo_model

    started = time.perf_counter()
    metrics = train_demo_model(work / "demo-model.pt", seed=seed, progress=False)
    print(f"training: {time.perf_counter() - started:.1f} s wall on {metrics.get('threads', 2)} threads "
          f"(load average before: {os.getloadavg()[0]:.2f}); held-out mAP {metrics['mAP']:.3f}, "
          f"accuracy {metrics['accuracy']:.3f}")
    study_toml = work / "study.toml"
    study_toml.write_text(demo_config_path().read_text(encoding="utf-8"), encoding="utf-8")
    generate(study_toml)
    return work / "study"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", nargs="?", type=Path, help="a rendered study directory")
    parser.add_argument("--demo", action="store_true", help="train and render the demo study first")
    parser.add_argument("--seed", type=int, default=0, help="the demo model's training seed")
    parser.add_argument("--keep", type=Path, help="with --demo: work here instead of a temporary folder")
    args = parser.parse_args()
    if args.demo == (args.study is not None):
        parser.error("give a study directory or --demo")
    if args.study is not None:
        report(args.study)
        return
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        report(run_demo(args.seed, args.keep))
        return
    with tempfile.TemporaryDirectory() as tmp:
        report(run_demo(args.seed, Path(tmp)))


if __name__ == "__main__":
    main()

"""`camstudy generate` / `python -m generator`: argument parsing and the run summary."""
from __future__ import annotations

import argparse
import sys

from generator.errors import CamStudyError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="camstudy generate",
        description="Render blinded, randomized Grad-CAM vs HiResCAM A/B pairs as described by study.toml.",
    )
    parser.add_argument("config", nargs="?", help="the study file (study.toml)")
    parser.add_argument("--demo", action="store_true", help="use the built-in demo study config")
    parser.add_argument("--out", help="output directory or s3://bucket/prefix (overrides [output] dir)")
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:1 ... (overrides [model] device)")
    parser.add_argument("--weights", help="checkpoint path (overrides [model] weights)")
    return parser


def summary_text(manifest: dict, out: str) -> str:
    s = manifest["summary"]
    first = manifest["methods"][0]
    rate = s["pairs"] / s["seconds"] if s["seconds"] else float("nan")
    skipped = s["skipped_images"]
    skipped_text = (f"{len(skipped)} image(s) skipped: " + "; ".join(f'{k["image"]} ({k["reason"]})'
                    for k in skipped[:5]) + (" ..." if len(skipped) > 5 else "") + ". ") if skipped else ""
    void = s.get("void_pairs", 0)
    void_text = (f"{void} candidate pair(s) left out as void (their two maps differ by less than "
                 f"min_map_difference = {s['min_map_difference']}; listed in manifest.json). ") if void else ""
    return (
        f"Rendered {s['pairs']} pairs of {s['images']} images in {s['classes']} classes, plus "
        f"{s['attention_checks']} attention checks, on {manifest['device']} in {s['seconds']:.1f} s "
        f"({rate:.1f} pairs/s); {first} is Image A in {s['first_method_as_a']} of the "
        f"{s['pairs']} pairs. {s['files_written']} files written, {s['files_unchanged']} already up to date. "
        f"{void_text}{skipped_text}Study directory: {out} (review every pair in gallery.html; serve it with "
        f"`camstudy import {out}` and `camstudy serve`)."
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from generator import config
    from generator.pipeline import generate

    if not args.config and not args.demo:
        build_parser().error("give a study.toml, or --demo for the built-in demo")
    path = config.demo_config_path() if args.demo else args.config
    try:
        cfg = config.load(path)
        manifest = generate(path, out=args.out, device=args.device, weights=args.weights)
    except CamStudyError as exc:
        print(f"camstudy generate: error: {exc}", file=sys.stderr)
        return 1
    out = args.out or str(cfg.resolve(cfg.output.dir))
    print(summary_text(manifest, out))
    return 0

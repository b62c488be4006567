"""The generator's subcommands: `camstudy train`, `camstudy generate` (also `python -m
generator`) and `camstudy evaluate`: argument parsing, errors and the printed summaries.

The modules that load torch are imported when a command runs, not with this module, so
`--help` answers at once.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from generator.errors import CamStudyError
from generator.settings import demo_config_path, load


# --------------------------------------------------------------------------- generate, evaluate

def _study_parser(prog: str, description: str, out_help: str) -> argparse.ArgumentParser:
    """The arguments `generate` and `evaluate` share: the study file (or --demo) and overrides."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("config", nargs="?", help="the study file (study.toml)")
    parser.add_argument("--demo", action="store_true", help="use the built-in demo study config")
    parser.add_argument("--out", help=out_help)
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:1 ... (overrides [model] device)")
    parser.add_argument("--weights", help="checkpoint path (overrides [model] weights)")
    return parser


def _study_path(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | Path:
    if not args.config and not args.demo:
        parser.error("give a study.toml, or --demo for the built-in demo")
    return demo_config_path() if args.demo else args.config


def generate_parser() -> argparse.ArgumentParser:
    return _study_parser(
        "camstudy generate",
        "Render blinded, randomized Grad-CAM vs HiResCAM A/B pairs as described by study.toml.",
        "output directory or s3://bucket/prefix (overrides [output] dir)")


def summary_text(manifest: dict, study_dir: str | Path) -> str:
    """What `camstudy generate` prints: the manifest's summary and where the study directory is."""
    out = str(study_dir)
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


def generate_main(argv: list[str] | None = None) -> int:
    parser = generate_parser()
    args = parser.parse_args(argv)
    path = _study_path(parser, args)
    from generator.rendering.pipeline import generate  # loads torch

    try:
        cfg = load(path)
        manifest = generate(path, out=args.out, device=args.device, weights=args.weights)
    except CamStudyError as exc:
        print(f"camstudy generate: error: {exc}", file=sys.stderr)
        return 1
    out = args.out or str(cfg.resolve(cfg.output.dir))
    print(summary_text(manifest, out))
    return 0


def evaluate_parser() -> argparse.ArgumentParser:
    return _study_parser(
        "camstudy evaluate",
        "Objective faithfulness, localization and shape tables for the pairs a study.toml selects.",
        "directory for evaluation.csv/.md/.json (default: the study directory)")


def evaluate_main(argv: list[str] | None = None) -> int:
    parser = evaluate_parser()
    args = parser.parse_args(argv)
    path = _study_path(parser, args)
    from generator.evaluation.evaluate import evaluate  # loads torch
    from generator.evaluation.report import summary_text as evaluation_summary

    try:
        doc = evaluate(path, out=args.out, device=args.device, weights=args.weights)
    except CamStudyError as exc:
        print(f"camstudy evaluate: error: {exc}", file=sys.stderr)
        return 1
    print(evaluation_summary(doc))
    return 0


# --------------------------------------------------------------------------- train

def train_parser() -> argparse.ArgumentParser:
    from generator.inputs.train import DEFAULT_THREADS, DEMO_EPOCHS

    p = argparse.ArgumentParser(
        prog="camstudy train",
        description="Train the built-in demo CNN (--demo) or fine-tune a torchvision architecture on "
                    "a folder of images with a CSV, or on PASCAL VOC, with multi-label BCE.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--demo", action="store_true", help="train the demo CNN on the synthetic demo scenes")
    what.add_argument("--arch", help="a torchvision architecture name, e.g. resnet18")
    p.add_argument("--out", required=True, type=Path, help="checkpoint file to write (e.g. model.pt)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None, help=f"default: {DEMO_EPOCHS} for --demo, 5 otherwise")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help="CPU threads (fixed so runs are reproducible; default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    own = p.add_argument_group("fine-tuning a torchvision architecture (--arch)")
    own.add_argument("--weights", default=None,
                     help="torchvision weights name (DEFAULT, IMAGENET1K_V1: needs the file in torch's cache "
                          "or network) or a local checkpoint path; default: random initialisation")
    own.add_argument("--head", choices=("gap", "flatten"), default="gap")
    own.add_argument("--images", type=Path, help="folder of images (with --csv)")
    own.add_argument("--csv", type=Path, help="CSV with header image,class (with --images)")
    own.add_argument("--classes", help="comma-separated class names, in index order (default: from the CSV)")
    own.add_argument("--voc", type=Path, help="PASCAL VOC root (the folder holding VOCdevkit/)")
    own.add_argument("--voc-year", default="2012")
    own.add_argument("--voc-set", default="train", help="VOC image set to train on (default %(default)s)")
    own.add_argument("--voc-annotations", choices=("segmentation", "detection"), default="detection")
    own.add_argument("--min-size", type=int, default=32, help="skip images whose shorter side is smaller")
    own.add_argument("--resize", type=int, default=256, help="shorter side before the crop; 0: no resize")
    own.add_argument("--crop", type=int, default=224)
    own.add_argument("--lr", type=float, default=1e-3)
    own.add_argument("--batch-size", type=int, default=16)
    own.add_argument("--val-fraction", type=float, default=0.1,
                     help="share of images held out for the reported metrics (default %(default)s)")
    own.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    return p


def _training_source(args: argparse.Namespace):
    """The labelled images --voc or --images/--csv name."""
    from generator.inputs.images import folder_source, voc_source

    if args.voc is not None:
        if args.images or args.csv:
            raise CamStudyError("use either --voc or --images with --csv, not both")
        return voc_source(args.voc, year=args.voc_year, image_set=args.voc_set,
                          annotations=args.voc_annotations, min_size=args.min_size)
    if args.images is None or args.csv is None:
        raise CamStudyError("--arch needs training images: --images DIR --csv labels.csv, or --voc ROOT")
    names = [c.strip() for c in args.classes.split(",")] if args.classes else None
    return folder_source(args.images, args.csv, class_names=names, min_size=args.min_size)


def train_main(argv: Sequence[str] | None = None) -> int:
    args = train_parser().parse_args(argv)
    from generator.inputs.preprocess import Preprocess
    from generator.inputs.train import finetune, format_metrics, train_demo_model

    try:
        if args.demo:
            metrics = train_demo_model(args.out, seed=args.seed, epochs=args.epochs, threads=args.threads,
                                       progress=not args.quiet)
        else:
            metrics = finetune(_training_source(args), args.arch, args.out, weights=args.weights, head=args.head,
                               preprocess=Preprocess(resize=args.resize or None, crop=args.crop),
                               epochs=args.epochs or 5, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                               val_fraction=args.val_fraction, device=args.device, threads=args.threads,
                               progress=not args.quiet)
    except CamStudyError as exc:
        print(f"camstudy train: {exc}", file=sys.stderr)
        return 2
    print(format_metrics(metrics))
    print(f"wrote {args.out} ({metrics.get('seconds', '?')} s)")
    return 0

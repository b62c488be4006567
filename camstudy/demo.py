"""`camstudy demo` (what `make demo` runs): the whole pipeline on the built-in default.

train the demo CNN (once) -> render the demo study -> set up a SQLite database ->
import the study -> serve the survey on http://127.0.0.1:5000.
Everything lives in ./demo-out; a second run reuses what is already there.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def usable(model_path: Path) -> bool:
    """Whether a saved demo model still fits the current demo CNN."""
    from generator.errors import ModelLoadError
    from generator.model_setup import checkpoint_metadata
    from generator.models import load_model

    meta = checkpoint_metadata(model_path)
    try:
        load_model("demo_cnn", weights=model_path, num_classes=meta.get("num_classes"),
                   input_size=meta.get("input_size", 96))
    except (ModelLoadError, ValueError):
        return False
    return True


def prepare_study(out: Path, seed: int) -> Path:
    """Train (if needed) and render the demo study; returns the study directory."""
    from generator import config
    from generator.cli import summary_text
    from generator.pipeline import generate
    from generator.train import train_demo_model

    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "demo-model.pt"
    if model_path.is_file() and not usable(model_path):
        print(f"{model_path} was trained for an older demo CNN: training it again")
        model_path.unlink()
    if model_path.is_file():
        step(f"demo model: {model_path} (already trained)")
    else:
        step("training the demo CNN on synthetic scenes (about a minute on 2 CPU cores)")
        started = time.perf_counter()
        train_demo_model(model_path, seed=seed)
        print(f"trained in {time.perf_counter() - started:.0f} s -> {model_path}")
    study_toml = out / "study.toml"
    text = config.demo_config_path().read_text(encoding="utf-8")
    if not study_toml.is_file() or study_toml.read_text(encoding="utf-8") != text:
        study_toml.write_text(text, encoding="utf-8")
    step("rendering the demo study (Grad-CAM vs HiResCAM A/B pairs)")
    manifest = generate(study_toml)
    study_dir = out / "study"
    print(summary_text(manifest, str(study_dir)))
    return study_dir


def serve_study(out: Path, study_dir: Path, host: str, port: int) -> int:
    try:
        from webapp import cli as web
    except ImportError as exc:
        print(f"(the survey web app is not available in this installation: {exc})")
        return 0
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{(out / 'survey.sqlite').resolve()}")
    step(f"database: {os.environ['DATABASE_URL']}")
    code = web.db_main(["upgrade"])
    if code:
        return code
    step(f"importing {study_dir}")
    code = web.import_main([str(study_dir)])
    if code:
        # The demo study changed since the last import (e.g. the demo model was retrained):
        # demo answers are disposable, so replace the study rather than stop.
        print("the demo study changed since it was imported: replacing it (demo answers are discarded)")
        code = web.import_main([str(study_dir), "--replace", "--discard-answers"])
    if code:
        return code
    step(f"serving the survey on http://{host}:{port} (Ctrl+C stops it)")
    return web.serve_main(["--host", host, "--port", str(port)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="camstudy demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo-out", help="working directory (default: ./demo-out)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the demo model's training")
    parser.add_argument("--no-serve", action="store_true", help="stop after rendering the study")
    parser.add_argument("--fresh", action="store_true", help="delete the working directory first")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    if args.fresh and out.exists():
        shutil.rmtree(out)
    from generator.errors import CamStudyError

    try:
        study_dir = prepare_study(out, args.seed)
    except CamStudyError as exc:
        print(f"camstudy demo: error: {exc}", file=sys.stderr)
        return 1
    print(f"\nReview the stimuli (methods shown, researcher only): {study_dir / 'gallery.html'}")
    if args.no_serve:
        return 0
    return serve_study(out, study_dir, args.host, args.port)

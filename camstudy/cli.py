"""`camstudy <subcommand>`: one entry point, dispatched lazily.

Each subcommand lives in its own package and owns its own argument parser
(``main(argv) -> int``). The dispatcher imports a package only when its
subcommand runs, so ``camstudy serve`` never loads torch and ``camstudy report``
never loads flask.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from camstudy import __version__

# name -> (module:function, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "check": ("camstudy.check:main", "check study.toml (every section, key and contradiction) without rendering"),
    "train": ("generator.cli:train_main", "train the demo CNN or fine-tune a torchvision model"),
    "generate": ("generator.cli:generate_main", "render blinded Grad-CAM/HiResCAM A/B pairs from study.toml"),
    "db": ("webapp.cli:db_main", "manage the survey database (db upgrade, db current)"),
    "import": ("webapp.cli:import_main", "load a study directory's manifest into the database"),
    "serve": ("webapp.cli:serve_main", "run the survey web app"),
    "export": ("webapp.cli:export_main", "export responses as tidy CSV/JSON"),
    "mturk": ("webapp.cli:mturk_main", "publish and manage Mechanical Turk HITs"),
    "evaluate": ("generator.cli:evaluate_main", "objective faithfulness and localization tables for a study"),
    "simulate": ("camstudy.cli:simulate_main",
                 "simulated participants: a synthetic export, or over HTTP against a running survey (--url)"),
    "report": ("analysis.cli:report_main", "run the significance tests and write the report"),
    "power": ("analysis.cli:power_main", "participants and judgments needed, by simulation"),
    "demo": ("camstudy.demo:main", "train, render and serve the built-in demo study"),
}


def simulate_main(argv: list[str]) -> int:
    """`--url` drives a running survey over HTTP; otherwise write a synthetic export."""
    if any(a == "--url" or a.startswith("--url=") for a in argv):
        return int(load("crowdsim.cli:main")(argv) or 0)
    return int(load("analysis.cli:simulate_main")(argv) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="camstudy",
        description="Human evaluation of CNN explanation maps (Grad-CAM vs HiResCAM).",
        epilog="Run `camstudy <subcommand> --help` for a subcommand's options.",
    )
    parser.add_argument("--version", action="version", version=f"camstudy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<subcommand>")
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def load(target: str):
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv or ["--help"])  # prints help/version or a usage error
        return 2
    name, rest = argv[0], argv[1:]
    target, _ = SUBCOMMANDS[name]
    try:
        func = load(target)
    except (ImportError, AttributeError) as exc:
        print(f"camstudy {name}: not available in this installation ({exc})", file=sys.stderr)
        return 2
    return int(func(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())

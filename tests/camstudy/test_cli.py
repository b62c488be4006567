"""The `camstudy` command: one entry point, subcommands loaded only when they run."""
from __future__ import annotations

import subprocess
import sys

import pytest

from camstudy import __version__
from camstudy.cli import SUBCOMMANDS


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "camstudy", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_subcommand():
    out = run("--help")
    assert out.returncode == 0
    for name in ("train", "generate", "db", "import", "serve", "export", "mturk", "simulate", "report", "demo"):
        assert name in out.stdout


def test_version():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"camstudy {__version__}"


def test_unknown_subcommand_is_a_usage_error():
    out = run("frobnicate")
    assert out.returncode == 2 and "invalid choice: 'frobnicate'" in out.stderr


IMPORTS_AFTER = (
    "import sys\nfrom camstudy.cli import main\n"
    "try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
    "print(sorted(m for m in ('torch', 'flask', 'sqlalchemy', 'pandas') if m in sys.modules))"
)


@pytest.mark.parametrize("command, forbidden", [
    ("serve", "torch"), ("db", "torch"), ("export", "torch"), ("report", "torch"), ("report", "flask"),
    ("generate", "flask"), ("generate", "sqlalchemy"),
])
def test_subcommands_load_only_their_own_package(command, forbidden):
    code = IMPORTS_AFTER.format(argv=[command, "--help"])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "usage:" in out.stdout, out.stdout + out.stderr  # the subcommand really ran
    loaded = out.stdout.strip().splitlines()[-1]
    assert forbidden not in loaded, f"`camstudy {command} --help` imported {loaded}"
    assert SUBCOMMANDS[command]

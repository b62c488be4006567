"""camstudy's tests: one folder per package (tests/generator, tests/webapp, tests/analysis,
tests/camstudy, ...), mirroring the packages' subpackages; shared set-up lives in
conftest.py fixtures and in helper modules imported as ``tests.<path>``."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository

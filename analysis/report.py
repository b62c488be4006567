"""`python analysis/report.py --responses responses.csv --out report/` (or `camstudy report`).

The same command as `camstudy report` (analysis.cli.report_main), kept runnable as a
script because the README and docs/analysis.md promise it.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make `import analysis` find this repository's package rather
    # than treating analysis/ itself as the top level.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))

from analysis.cli import report_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(report_main())

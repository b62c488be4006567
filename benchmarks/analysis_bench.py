"""Analyse a 100,000-judgment export without the mixed model and print the time.

    .venv/bin/python benchmarks/analysis_bench.py [--judgments 100000] [--keep DIR]

The export is simulated (500 participants x 100 pairs x 2 questions) and written
to a temporary CSV first; the timed part is what `camstudy report --no-mixed`
does: read, exclude, test, draw, write report.html/results.json/CSVs.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import SimulationSpec, simulate_responses, write_export  # noqa: E402
from analysis.cli import report_main  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--judgments", type=int, default=100_000)
    ap.add_argument("--keep", help="write the export and report here instead of a temp dir")
    args = ap.parse_args()
    pairs, questions = 100, 2
    participants = max(1, args.judgments // (pairs * questions))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(args.keep or tmp)
        t0 = time.perf_counter()
        spec = SimulationSpec(participants=participants, pairs=pairs, attention_checks=0, seed=1)
        frame = simulate_responses(spec)
        write_export(frame, d / "responses.csv")
        t1 = time.perf_counter()
        code = report_main(["--responses", str(d / "responses.csv"), "--out", str(d / "report"),
                            "--no-mixed"])
        t2 = time.perf_counter()
    print(f"\nsimulated {len(frame):,} judgments ({participants} participants) in {t1 - t0:.1f} s")
    print(f"analysed {len(frame):,} judgments without the mixed model in {t2 - t1:.1f} s "
          f"(python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()})")
    return code


if __name__ == "__main__":
    sys.exit(main())

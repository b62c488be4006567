"""``camstudy simulate --url URL --participants N [--manifest study/manifest.json]``:
simulated participants take a running survey over HTTP and the run is summarised."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crowdsim.behaviour import ResponseModel
from crowdsim.client import ClientOptions
from crowdsim.run import SimulationResult, simulate
from webapp import SIM_PREFIX


def _distinct_errors(result: SimulationResult, most: int = 20) -> list[str]:
    """Each distinct error once (with how many participants hit it), not once per participant."""
    counts: dict[str, list[str]] = {}
    for p in result.participants:
        if p.error:
            counts.setdefault(p.error, []).append(p.participant_id)
    return [f"{ids[0]}: {err}" if len(ids) == 1 else f"{len(ids)} participants ({ids[0]}, ...): {err}"
            for err, ids in list(counts.items())[:most]]


def _probability(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="camstudy simulate",
        description="Simulated participants take a running survey over HTTP, as a browser does "
                    "(participant ids start with 'sim-'). Needs lab sessions with typed ids (lab_mode = 'named'), "
                    "and --lab-password where /lab is locked (crowd sources, serve --prod).",
    )
    p.add_argument("--url", required=True, help="the survey's base URL, e.g. http://127.0.0.1:5000")
    p.add_argument("--participants", type=int, default=5, help="how many simulated participants (default 5)")
    p.add_argument("--concurrency", type=int, default=5, help="how many take part at the same time (default 5)")
    p.add_argument("--manifest", type=Path, help="the study's manifest.json (or its directory): lets the "
                   "simulated people 'see' the methods; without it every answer is a coin flip")
    p.add_argument("--p-gradcam-larger", type=_probability, default=0.7,
                   help="P(choose the Grad-CAM image) for the 'larger' question (default 0.7)")
    p.add_argument("--p-gradcam-focused", type=_probability, default=0.35,
                   help="P(choose the Grad-CAM image) for the 'focused' question (default 0.35)")
    p.add_argument("--p-gradcam", action="append", default=[], metavar="QUESTION=P",
                   help="the same for any question id (repeatable)")
    p.add_argument("--p-same", type=_probability, default=0.05, help="P('About the same') where offered (default 0.05)")
    p.add_argument("--attention-accuracy", type=_probability, default=0.95,
                   help="P(answering an attention check correctly) (default 0.95)")
    p.add_argument("--rt-ms", type=int, default=1800, help="median reported response time (default 1800)")
    p.add_argument("--think", type=float, default=0.0,
                   help="seconds each person pauses per trial (default 0: full speed, which the server's "
                        "timing flags as too fast; 1.3 or more looks like a person)")
    p.add_argument("--lab-password", help="the lab password, if /lab asks for one")
    p.add_argument("--max-seconds", type=float, default=600, help="stop after this long (default 600)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal anyway)")
    args = p.parse_args(argv)
    if not 0 <= args.participants <= 100_000 or not 1 <= args.concurrency <= 1000:
        p.error("--participants must be 0-100000 and --concurrency 1-1000")
    p_gradcam = {"larger": args.p_gradcam_larger, "focused": args.p_gradcam_focused}
    for item in args.p_gradcam:
        q, _, value = item.partition("=")
        try:
            p_gradcam[q] = _probability(value)
        except (ValueError, argparse.ArgumentTypeError):
            p.error(f"--p-gradcam {item!r}: expected QUESTION=P with P between 0 and 1")
    manifest = None
    if args.manifest:
        path = args.manifest / "manifest.json" if args.manifest.is_dir() else args.manifest
        manifest = json.loads(path.read_text(encoding="utf-8"))
    model = ResponseModel(p_gradcam, args.p_same, args.attention_accuracy, args.rt_ms)
    opts = ClientOptions(lab_password=args.lab_password, think_s=args.think)
    result = simulate(args.url, args.participants, model, manifest, args.concurrency, opts,
                      args.max_seconds, seed=args.seed, progress=not args.no_progress)
    s = result.summary()
    if args.json:
        print(json.dumps(s, indent=1))
    else:
        print(f"simulated {s['participants']} participants (ids {SIM_PREFIX}{s['run_id']}-…): "
              f"{s['completed']} completed, {s['study_full']} found the study full, {s['error_count']} failed")
        print(f"  {s['answers_acknowledged']} trials answered in {s['seconds']} s ({s['answers_per_s']}/s); "
              f"answer POST p50/p95/p99 {s['answer_post_ms']['p50']}/{s['answer_post_ms']['p95']}/"
              f"{s['answer_post_ms']['p99']} ms; {s['retries']} retries, {s['status_5xx']} 5xx")
        if manifest is None:
            print("  note: no --manifest, so answers were coin flips")
        for e in _distinct_errors(result):
            print(f"  error: {e}", file=sys.stderr)
    return 0 if not s["error_count"] else 1

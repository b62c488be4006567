"""Calibration of the whole report by simulation: every p-value it computes, every interval.

    PYTHONPATH=. .venv/bin/python benchmarks/calibration.py simulate --out DIR [--studies 200]
    PYTHONPATH=. .venv/bin/python benchmarks/calibration.py analyse --data DIR --out runs.jsonl
    PYTHONPATH=. .venv/bin/python benchmarks/calibration.py table runs.jsonl [more.jsonl]

`simulate` writes exports and manifests (with this checkout's simulator), `analyse` runs
the analysis of whatever checkout is first on PYTHONPATH over them (so an old version can
be measured on the same files), `table` prints the rejection rate of every p-value path
and the coverage of every interval path, with 3-binomial-SE bounds.

Scenarios: "null" (both primary questions at p = 0.5; participant SD 1, pair SD 0.5,
participants' Image-A preferences SD 0.5 around no preference, 10% ties, 10% careless
participants, the webapp's allocation and counterbalancing, no area effect) and
"effect" (larger 0.7, focused 0.3, otherwise the same).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

SCENARIOS = {
    "null": {"larger": 0.5, "focused": 0.5},
    "effect": {"larger": 0.7, "focused": 0.3},
}


def spec_for(scenario: str, seed: int, participants=30, pairs=20):
    from analysis import SimulationSpec
    return SimulationSpec(participants=participants, pairs=pairs, p=SCENARIOS[scenario],
                          participant_sd=1.0, pair_sd=0.5, tie_rate=0.1, side_sd=0.5,
                          allocation="webapp", attention_checks=2, careless_rate=0.1,
                          study_id=f"{scenario}{seed}", seed=seed)


def simulate(out: Path, studies: int, scenario: str, first_seed: int) -> None:
    from analysis import made_up_manifest, simulate_responses, write_export
    out.mkdir(parents=True, exist_ok=True)
    for seed in range(first_seed, first_seed + studies):
        spec = spec_for(scenario, seed)
        manifest = made_up_manifest(spec, np.random.default_rng([seed, 1]))
        (out / f"{scenario}{seed}.manifest.json").write_text(json.dumps(manifest))
        write_export(simulate_responses(spec, manifest), out / f"{scenario}{seed}.csv")


def walk(obj, path=""):
    """(path, value) of every numeric leaf in a result tree; list items named by their label."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from walk(getattr(obj, f.name), f"{path}.{f.name}" if path else f.name)
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            label = next((str(getattr(item, a)) for a in ("class_name", "question", "label", "rule")
                          if hasattr(item, a)), str(i))
            if hasattr(item, "test") and isinstance(getattr(item, "test"), str):
                label = f"{item.test}:{label}"
            yield from walk(item, f"{path}[{label}]")
    elif isinstance(obj, (float, int, np.floating)) and not isinstance(obj, bool):
        yield path, float(obj)
    elif hasattr(obj, "low") and hasattr(obj, "high"):
        yield path, obj


def record(study) -> dict:
    pvalues, intervals = {}, {}
    for path, value in walk(study):
        leaf = path.rsplit(".", 1)[-1]
        if dataclasses.is_dataclass(value):
            continue
        if "pvalue" in leaf or leaf == "adjusted":
            pvalues[path] = value
    for path, value in _intervals(study):
        intervals[path] = [value.low, value.high]
    return {"pvalues": pvalues, "intervals": intervals}


def _intervals(obj, path=""):
    if hasattr(obj, "low") and hasattr(obj, "high") and hasattr(obj, "level"):
        yield path, obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _intervals(getattr(obj, f.name), f"{path}.{f.name}" if path else f.name)
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            label = next((str(getattr(item, a)) for a in ("class_name", "question")
                          if hasattr(item, a)), str(i))
            yield from _intervals(item, f"{path}[{label}]")


def analyse(data: Path, out: Path, limit: int | None, scenario: str | None = None) -> None:
    import warnings

    from analysis import analyse as run, read_manifest, read_responses
    from analysis.settings import AnalysisConfig
    warnings.simplefilter("ignore")
    files = sorted(data.glob(f"{scenario or ''}*.csv"), key=lambda p: (p.stem.rstrip("0123456789"),
                                                       int("".join(c for c in p.stem if c.isdigit()))))
    with out.open("a") as fh:
        for path in files[:limit]:
            manifest = read_manifest(path.with_suffix(".manifest.json"))
            try:  # this checkout's analyse() may have the switch for the sensitivity models
                study, _ = run(read_responses(path), manifest, AnalysisConfig(), sensitivity=False)
            except TypeError:
                study, _ = run(read_responses(path), manifest, AnalysisConfig())
            fh.write(json.dumps({"study": path.stem, **record(study)}) + "\n")
            fh.flush()


def table(paths: list[Path], truth: dict[str, dict[str, float]]) -> None:
    runs = [json.loads(line) for p in paths for line in p.read_text().splitlines() if line]
    for scenario in SCENARIOS:
        mine = [r for r in runs if r["study"].rstrip("0123456789") == scenario]
        if not mine:
            continue
        print(f"\n{scenario}: {len(mine)} studies")
        if scenario == "null":
            keys = sorted({k for r in mine for k in r["pvalues"]})
            for k in keys:
                ps = np.array([r["pvalues"][k] for r in mine if k in r["pvalues"]])
                rate, se = np.mean(ps < 0.05), np.sqrt(0.05 * 0.95 / len(ps))
                flag = "" if abs(rate - 0.05) <= 3 * se else "  OUTSIDE 5% +- 3 SE"
                print(f"  reject {rate:6.1%} of {len(ps):4d}  {k}{flag}")
        for k in sorted({k for r in mine for k in r["intervals"]}):
            target = truth[scenario](k)
            if target is None:
                continue
            got = [r["intervals"][k] for r in mine if k in r["intervals"]]
            cover = np.mean([lo <= target <= hi for lo, hi in got])
            se = np.sqrt(0.05 * 0.95 / len(got))
            flag = "" if abs(cover - 0.95) <= 3 * se else "  OUTSIDE 95% +- 3 SE"
            print(f"  cover  {cover:6.1%} of {len(got):4d}  {k} (truth {target:.3f}){flag}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("simulate")
    s.add_argument("--out", required=True, type=Path)
    s.add_argument("--studies", type=int, default=200)
    s.add_argument("--scenario", choices=list(SCENARIOS), default="null")
    s.add_argument("--first-seed", type=int, default=0)
    a = sub.add_parser("analyse")
    a.add_argument("--data", required=True, type=Path)
    a.add_argument("--out", required=True, type=Path)
    a.add_argument("--limit", type=int)
    a.add_argument("--scenario", choices=list(SCENARIOS))
    t = sub.add_parser("table")
    t.add_argument("runs", nargs="+", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "simulate":
        simulate(args.out, args.studies, args.scenario, args.first_seed)
    elif args.cmd == "analyse":
        analyse(args.data, args.out, args.limit, args.scenario)
    else:
        table(args.runs, TRUTH)
    return 0


def _truth(scenario):
    from scipy import integrate, stats
    from scipy.special import expit, logit
    p = SCENARIOS[scenario]

    def marginal(prob):  # pooled share over participants (SD 1) and pairs (SD 0.5)
        sd = np.hypot(1.0, 0.5)
        return integrate.quad(lambda z: expit(logit(prob) + sd * z) * stats.norm.pdf(z), -12, 12)[0]

    def target(path: str):
        q = next((q for q in p if f"[{q}]" in path), None)
        if "tie" in path:
            return 0.1
        if q is None or "classes" in path or "position" in path or "area" in path \
                or "objective" in path or "side" in path or "pairs" in path:
            return 0.5 if scenario == "null" and "side" not in path else None
        if ".model." in path and "probability" not in path:
            return float(np.exp(logit(p[q])))            # conditional odds ratio
        if ".model." in path or ".decision" in path:
            return p[q]                                   # conditional probability
        return marginal(p[q])                             # judgment-level share
    return target


TRUTH = {s: _truth(s) for s in SCENARIOS}

if __name__ == "__main__":
    sys.exit(main())

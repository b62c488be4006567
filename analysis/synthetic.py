"""Synthetic responses exports: for demos, power planning and the tests.

Each participant judges pairs; the log-odds of choosing Grad-CAM for a question is

    logit(p[question]) + u[participant] + v[pair] ± side_bias + area_slope * (log area ratio)

with u ~ N(0, participant_sd²), v ~ N(0, pair_sd²). So `p` is the probability for a
typical participant and pair; with participant_sd > 0 the population proportion
lies a little closer to 0.5. Ties ("about the same") occur at `tie_rate`.
Careless participants answer at random, fast, and fail attention checks, which
exercises the exclusion rules.

`camstudy simulate --out responses.csv [--manifest manifest.json] ...` (analysis.cli.
simulate_main, or `write_synthetic_export`) writes the export in the documented format
(docs/formats.md). Not to be confused with the HTTP participant simulator
(`camstudy simulate --url`), which takes the real survey and whose answers reach the
database.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from analysis.inputs.load import read_manifest

COLUMNS = ["study_id", "participant_id", "source", "participant_completed", "trial_index",
           "pair_id", "image_id", "class_name", "question_id", "response_side",
           "response_method", "left_method", "right_method", "is_attention_check",
           "attention_correct", "rt_ms", "answered_at"]
CLASSES = ("circle", "square", "triangle", "cross", "ring")


@dataclass(frozen=True)
class SimulationSpec:
    participants: int = 30
    pairs: int = 40                       # made-up study only; a manifest fixes its own
    pairs_per_participant: int | None = None  # None: every participant sees every pair
    p: dict = field(default_factory=lambda: {"larger": 0.7, "focused": 0.3})
    participant_sd: float = 1.0
    pair_sd: float = 0.5
    tie_rate: float = 0.1
    side_bias: float = 0.0
    # SD across participants of their own preference for Image A (logit scale): the
    # position effect varies between people, as it does in real studies.
    side_sd: float = 0.0
    # "random": each participant sees a random subset, each pair on its manifest side.
    # "webapp": as webapp/survey/assignment.py allocates: least-shown pairs first, and each
    # pair shown in the A/B order it has been shown in less often (counterbalancing).
    allocation: str = "random"
    area_slope: float = 0.0               # only for "larger", only with area metrics
    attention_checks: int = 4             # made-up study only
    careless_rate: float = 0.0
    dropout_rate: float = 0.0
    study_id: str = "simulated"
    seed: int = 0


def made_up_manifest(spec: SimulationSpec, rng: np.random.Generator) -> dict:
    """A manifest-shaped study (no stimulus files) with plausible metrics."""
    sides = np.array(["A", "B"] * (spec.pairs // 2 + 1))[: spec.pairs]
    rng.shuffle(sides)  # Grad-CAM on the left in half of the pairs, as in the paper
    pairs = []
    for i in range(spec.pairs):
        g_area, h_area = rng.beta(4, 12), rng.beta(2, 16)
        metrics = {"gradcam": {"area_above_half": g_area, "entropy": 8.0 + 4 * g_area},
                   "hirescam": {"area_above_half": h_area, "entropy": 8.0 + 4 * h_area}}
        g_side = sides[i]
        h_side = "B" if g_side == "A" else "A"
        pairs.append(_pair(f"sim{i:05d}", f"img_{i:05d}", i % len(CLASSES), {
            g_side: {"method": "gradcam", "metrics": metrics["gradcam"]},
            h_side: {"method": "hirescam", "metrics": metrics["hirescam"]}}))
    for j in range(spec.attention_checks):
        pair = _pair(f"att{j:04d}", f"img_att{j}", j % len(CLASSES),
                     {"A": {"method": None, "metrics": {}}, "B": {"method": None, "metrics": {}}})
        pair["is_attention_check"] = True
        pair["expected"] = {q: str(rng.choice(["A", "B"])) for q in spec.p}
        pairs.append(pair)
    return {"format_version": 1, "kind": "camstudy-manifest", "study_id": spec.study_id,
            "methods": ["gradcam", "hirescam"], "questions": list(spec.p),
            "model": {"class_names": list(CLASSES)},
            "summary": {"pairs": spec.pairs, "attention_checks": spec.attention_checks},
            "pairs": pairs}


def _pair(pair_id, image_id, class_index, sides) -> dict:
    for letter, side in sides.items():
        side.setdefault("file", f"stimuli/{pair_id}{letter}.png")
    return {"pair_id": pair_id, "image_id": image_id, "class_index": class_index,
            "class_name": CLASSES[class_index], "is_attention_check": False,
            "expected": None, "original": {"file": None}, "sides": sides}


def simulate_responses(spec: SimulationSpec, manifest: dict | None = None) -> pd.DataFrame:
    """The export as a frame of strings, exactly as `camstudy export` would write it."""
    rng = np.random.default_rng(spec.seed)
    manifest = manifest or made_up_manifest(spec, rng)
    study_id = manifest.get("study_id", spec.study_id)
    questions = [q for q in manifest.get("questions", list(spec.p)) if q in spec.p] or list(spec.p)
    pairs = [p for p in manifest["pairs"] if not p.get("is_attention_check")]
    checks = [p for p in manifest["pairs"] if p.get("is_attention_check")]
    pair_effect = rng.normal(0, spec.pair_sd, len(pairs))
    area = _log_area_ratio(pairs)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    shown = np.zeros((len(pairs), 2), dtype=int)  # per pair: shown as in the manifest, swapped
    blocks = []
    for i in range(spec.participants):
        blocks.append(_participant(spec, rng, i, study_id, questions, pairs, checks,
                                   pair_effect, area, start + timedelta(hours=i), shown))
    return pd.concat(blocks, ignore_index=True)[COLUMNS]


def _log_area_ratio(pairs: list[dict]) -> np.ndarray:
    out = np.zeros(len(pairs))
    for j, pair in enumerate(pairs):
        by_method = {s["method"]: s.get("metrics") or {} for s in pair["sides"].values()}
        g = by_method.get("gradcam", {}).get("area_above_half")
        h = by_method.get("hirescam", {}).get("area_above_half")
        if g and h:
            out[j] = np.log(g / h)
    return out - out.mean() if np.any(out) else out


def webapp_allocation(shown: np.ndarray, n_seen: int, rng: np.random.Generator):
    """Pairs and orientations as webapp/survey/assignment.py draws them: the least-shown pairs
    (random among equals), each in the A/B order it has been shown in less often."""
    load = shown.sum(axis=1)
    candidates = rng.permutation(len(load))
    chosen = candidates[np.argsort(load[candidates], kind="stable")][:n_seen]
    swapped = {}
    for j in chosen:
        as_is, flipped = shown[j]
        swapped[int(j)] = bool(flipped < as_is if as_is != flipped else rng.random() < 0.5)
        shown[j, int(swapped[int(j)])] += 1
    return [int(j) for j in chosen], swapped


def _participant(spec, rng, i, study_id, questions, pairs, checks, pair_effect, area, t0, shown):
    careless = rng.random() < spec.careless_rate
    u = rng.normal(0, spec.participant_sd)
    side = rng.normal(0, spec.side_sd) if spec.side_sd > 0 else 0.0
    n_seen = len(pairs) if spec.pairs_per_participant is None else min(
        spec.pairs_per_participant, len(pairs))
    swapped = {}
    if spec.allocation == "webapp":
        seen, swapped = webapp_allocation(shown, n_seen, rng)
    else:
        seen = list(rng.permutation(len(pairs))[:n_seen])
    order = seen + [-1 - k for k in range(len(checks))]
    order = [order[k] for k in rng.permutation(len(order))]
    completed = rng.random() >= spec.dropout_rate
    if not completed:
        order = order[: int(rng.integers(1, max(2, len(order))))]
    pid = "W" + "".join(rng.choice(list("0123456789ABCDEF"), 13))
    rows, clock = [], t0
    for trial, j in enumerate(order):
        for q in questions:
            row = (_check_answer(rng, checks[-1 - j], q, careless) if j < 0 else
                   _pair_answer(spec, rng, pairs[j], q, careless, u + pair_effect[j], area[j],
                                side, swapped.get(int(j), False)))
            rt = float(rng.lognormal(np.log(400 if careless else 2500), 0.4))
            clock += timedelta(milliseconds=rt)
            row.update(study_id=study_id, participant_id=pid, source="mturk",
                       participant_completed=_b(completed), trial_index=trial,
                       question_id=q, rt_ms=int(round(rt)),
                       answered_at=clock.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _pair_answer(spec, rng, pair, q, careless, effect, log_area, side_pref=0.0,
                 swapped=False) -> dict:
    left, right = pair["sides"]["A"]["method"], pair["sides"]["B"]["method"]
    if swapped:
        left, right = right, left
    row = {"pair_id": pair["pair_id"], "image_id": pair["image_id"],
           "class_name": pair["class_name"], "left_method": left, "right_method": right,
           "is_attention_check": "false", "attention_correct": ""}
    if careless:
        side = str(rng.choice(["A", "B"]))
    elif rng.random() < spec.tie_rate:
        side = "same"
    else:
        bias = spec.side_bias + side_pref
        eta = logit(spec.p[q]) + effect + (bias if left == "gradcam" else -bias)
        if q == "larger":
            eta += spec.area_slope * log_area
        gradcam = rng.random() < expit(eta)
        side = ("A" if left == "gradcam" else "B") if gradcam else ("B" if left == "gradcam" else "A")
    row["response_side"] = side
    row["response_method"] = "same" if side == "same" else (left if side == "A" else right)
    return row


def _check_answer(rng, pair, q, careless) -> dict:
    expected = (pair.get("expected") or {}).get(q, "A")
    correct = rng.random() < (0.5 if careless else 0.97)
    side = expected if correct else ("B" if expected == "A" else "A")
    return {"pair_id": pair["pair_id"], "image_id": pair["image_id"],
            "class_name": pair["class_name"], "left_method": "", "right_method": "",
            "is_attention_check": "true", "attention_correct": _b(correct),
            "response_side": side, "response_method": ""}


def _b(value: bool) -> str:
    return "true" if value else "false"


def write_export(frame: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("# camstudy-responses format_version=1\n")
        frame.to_csv(fh, index=False)
    return path


def write_synthetic_export(out: str | Path, spec: SimulationSpec, manifest: str | Path | None = None,
                           write_manifest: str | Path | None = None) -> pd.DataFrame:
    """Simulate `spec` and write the export to `out` (what `camstudy simulate` does).

    With `manifest` (a study's manifest.json) the answers are for its pairs; without one a
    study is made up, and `write_manifest` also writes its manifest.json. Returns the
    answers written. A manifest that cannot be read raises AnalysisError.
    """
    if manifest is not None:
        study = read_manifest(manifest).raw
    else:
        study = made_up_manifest(spec, np.random.default_rng([spec.seed, 1]))
        if write_manifest:
            Path(write_manifest).parent.mkdir(parents=True, exist_ok=True)
            Path(write_manifest).write_text(json.dumps(study, indent=1))
    frame = simulate_responses(spec, study)
    write_export(frame, out)
    return frame

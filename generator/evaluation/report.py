"""evaluation.csv, evaluation.json and evaluation.md: the objective tables of a study.

The rows (one per image-class-method) are the data; the tables summarise them per
method, per class (segmentation) and per pair (which method has the larger area,
the higher entropy, ...). These files name the methods: like gallery.html they are
for the researcher and never go to the stimulus bucket.
"""
from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path

from generator.rendering.storage import write_if_changed
from generator.rendering.writers import write_gallery

FORMAT_VERSION = 1
FILES = ("evaluation.md", "evaluation.json", "evaluation.csv")
# metric -> what the per-pair comparison counts: the method with the larger value ("higher")
# or the smaller one ("lower").
PAIRED = {"area_above_half": "higher", "entropy": "higher", "blobs": "higher", "roundness": "higher",
          "faithfulness_distance": "lower", "faithfulness_spearman": "higher", "iou_0.5": "higher",
          "pointing_hit": "higher", "energy_inside": "higher"}
PAIRED_WORDS = {"area_above_half": "larger area above 0.5", "entropy": "higher entropy (more spread out)",
                "blobs": "more blobs", "roundness": "rounder region",
                "faithfulness_distance": "closer to the ground truth",
                "faithfulness_spearman": "higher rank correlation with the ground truth",
                "iou_0.5": "higher IoU with the mask at 0.5", "pointing_hit": "hits the mask, the other misses",
                "energy_inside": "more energy inside the mask"}


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 6) if values else None


def _of(rows, method, key):
    return [r[key] for r in rows if r["method"] == method]


def faithfulness_table(evaluator) -> dict:
    f = evaluator.faith
    doc = {"defined": f.defined, "reason": f.reason, "linear_head": f.linear_name,
           "max_completeness_error": f.max_completeness_error if f.defined else None, "per_method": {}}
    if not f.defined:
        if f.reason is None:
            doc["reason"] = "no batch was evaluated"
        return doc
    for m in evaluator.methods:
        dist = [v for v in _of(evaluator.rows, m, "faithfulness_distance") if v is not None]
        doc["per_method"][m] = {
            "n": len(dist), "mean_distance": _mean(dist),
            "median_distance": round(statistics.median(dist), 6) if dist else None,
            "max_distance": max(dist) if dist else None,
            "mean_spearman": _mean(_of(evaluator.rows, m, "faithfulness_spearman"))}
    return doc


def localization_table(evaluator) -> dict:
    thresholds = [f"{t:g}" for t in evaluator.thresholds]
    doc = {"defined": evaluator.masks_seen > 0, "reason": None, "thresholds": [float(t) for t in thresholds],
           "per_method": {}, "segmentation": {"threshold": evaluator.segmentation.threshold,
                                              "per_class": evaluator.segmentation.class_iou(),
                                              "miou": evaluator.segmentation.miou()}}
    if not doc["defined"]:
        doc["reason"] = ("the image source has no object masks (use the demo set or VOC with "
                         "voc_annotations = 'segmentation')" if not evaluator.source.masks
                         else "no evaluated image has a mask of its explained class")
        return doc
    for m in evaluator.methods:
        rows = [r for r in evaluator.rows if r["method"] == m and r["has_mask"]]
        doc["per_method"][m] = {
            "n": len(rows), "mean_iou": {t: _mean(r[f"iou_{t}"] for r in rows) for t in thresholds},
            "pointing_accuracy": _mean(r["pointing_hit"] for r in rows),
            "mean_energy_inside": _mean(r["energy_inside"] for r in rows)}
    return doc


def shape_table(evaluator) -> dict:
    keys = ("area_above_half", "entropy", "blobs", "roundness")
    return {"region_threshold": 0.5, "per_method": {
        m: {"n": len(_of(evaluator.rows, m, "entropy")), **{f"mean_{k}": _mean(_of(evaluator.rows, m, k)) for k in keys}}
        for m in evaluator.methods}}


def paired_table(evaluator) -> dict:
    """Per pair, which of the two methods has the larger (or, for distances, smaller) value."""
    first, second = evaluator.methods[:2]
    by_pair: dict[str, dict[str, dict]] = {}
    for r in evaluator.rows:
        by_pair.setdefault(r["pair_id"], {})[r["method"]] = r
    out = {"pairs": len(by_pair), "counts": {}}
    for key, direction in PAIRED.items():
        counts = {first: 0, second: 0, "equal": 0}
        for pair in by_pair.values():
            a, b = pair.get(first, {}).get(key), pair.get(second, {}).get(key)
            if a is None or b is None:
                continue
            if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
                counts["equal"] += 1
            else:
                counts[first if (a > b) == (direction == "higher") else second] += 1
        if sum(counts.values()):
            out["counts"][key] = counts
    return out


def document(evaluator, skipped) -> dict:
    setup = evaluator.setup
    return {
        "format_version": FORMAT_VERSION, "kind": "camstudy-evaluation",
        "study_id": evaluator.cfg.study.id,
        "model": {"arch": setup.arch, "head": setup.head, "weights": setup.weights,
                  "target_layer": setup.target_layer},
        "methods": evaluator.methods,
        "feature_size": list(evaluator.feature_shape or ()), "crop": evaluator.prep.crop,
        "faithfulness": faithfulness_table(evaluator),
        "localization": localization_table(evaluator),
        "shape": shape_table(evaluator),
        "paired": paired_table(evaluator),
        "skipped_images": list(skipped),
        "rows": evaluator.rows,
    }


def csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if v is None else str(v).lower() if isinstance(v, bool) else v)
                             for k, v in r.items()})
    return buf.getvalue()


def _fmt(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(doc: dict) -> str:
    methods = doc["methods"]
    lines = [f"# Objective evaluation: {doc['study_id']}", "",
             f"Model `{doc['model']['arch']}`, target layer "
             f"`{doc['model']['target_layer']}`, feature map {'×'.join(map(str, doc['feature_size']))}, "
             f"crop {doc['crop']} px; {doc['paired']['pairs']} image-class pairs. "
             "What each number means: docs/evaluation.md.", "", "## Faithfulness", ""]
    f = doc["faithfulness"]
    if f["defined"]:
        lines += [f"Ground truth: per location, the sum over channels of `{f['linear_head']}`'s weight times "
                  f"the activation (largest |sum + bias − logit| seen: {f['max_completeness_error']:.2e}). "
                  "Distance: RMS difference of the ReLU'd, min-max normalised maps (0 = identical).", "",
                  "| method | n | mean distance | median | max | mean Spearman ρ |", "|---|---:|---:|---:|---:|---:|"]
        for m, v in f["per_method"].items():
            lines.append(f"| {m} | {v['n']} | {_fmt(v['mean_distance'], 4)} | {_fmt(v['median_distance'], 4)} | "
                         f"{_fmt(v['max_distance'], 4)} | {_fmt(v['mean_spearman'])} |")
    else:
        lines.append(f"Not defined for this model: {f['reason']}.")
    loc = doc["localization"]
    lines += ["", "## Localization", ""]
    if loc["defined"]:
        ts = [f"{t:g}" for t in loc["thresholds"]]
        lines += ["| method | n | " + " | ".join(f"IoU@{t}" for t in ts) + " | pointing game | energy inside |",
                  "|---|---:|" + "---:|" * (len(ts) + 2)]
        for m, v in loc["per_method"].items():
            lines.append(f"| {m} | {v['n']} | " + " | ".join(_fmt(v["mean_iou"][t]) for t in ts)
                         + f" | {_fmt(v['pointing_accuracy'])} | {_fmt(v['mean_energy_inside'])} |")
        seg = loc["segmentation"]
        lines += ["", f"Weakly-supervised segmentation (map > {seg['threshold']:g} as the class mask; "
                  "IoU over all images of a class):", "",
                  "| class | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
        for name, by_method in seg["per_class"].items():
            lines.append(f"| {name} | " + " | ".join(_fmt(by_method.get(m)) for m in methods) + " |")
        lines.append("| **mIoU** | " + " | ".join(f"**{_fmt(seg['miou'].get(m))}**" for m in methods) + " |")
    else:
        lines.append(f"Not computed: {loc['reason']}.")
    lines += ["", "## Size and shape (region: map > 0.5, at crop resolution)", "",
              "| method | n | area > 0.5 | entropy (bits) | blobs | roundness |", "|---|---:|---:|---:|---:|---:|"]
    for m, v in doc["shape"]["per_method"].items():
        lines.append(f"| {m} | {v['n']} | {_fmt(v['mean_area_above_half'])} | {_fmt(v['mean_entropy'], 2)} | "
                     f"{_fmt(v['mean_blobs'], 2)} | {_fmt(v['mean_roundness'])} |")
    paired = doc["paired"]
    first, second = methods[:2]
    lines += ["", "## Pair by pair", "", f"Of {paired['pairs']} pairs, how many times each method is the one that ...", "",
              f"| ... | {first} | {second} | equal |", "|---|---:|---:|---:|"]
    for key, c in paired["counts"].items():
        lines.append(f"| {PAIRED_WORDS[key]} | {c[first]} | {c[second]} | {c['equal']} |")
    if doc["skipped_images"]:
        lines += ["", f"{len(doc['skipped_images'])} image(s) could not be loaded and were skipped."]
    return "\n".join(lines) + "\n"


def write_all(out_dir: Path, evaluator, skipped) -> dict:
    doc = document(evaluator, skipped)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_if_changed(out_dir / "evaluation.json", (json.dumps(doc, indent=1, allow_nan=False) + "\n").encode())
    write_if_changed(out_dir / "evaluation.md", markdown(doc).encode())
    write_if_changed(out_dir / "evaluation.csv", csv_text(evaluator.rows).encode())
    return doc


def relink_gallery(out_dir: Path) -> None:
    """Rewrite gallery.html of a study in out_dir so it links the evaluation tables."""
    manifest = out_dir / "manifest.json"
    if manifest.is_file() and (out_dir / "gallery.html").is_file():
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except ValueError:
            return
        write_gallery(out_dir / "gallery.html", data)


def summary_text(doc: dict) -> str:
    parts = [f"Evaluated {doc['paired']['pairs']} image-class pairs of study {doc['study_id']}."]
    f = doc["faithfulness"]
    if f["defined"]:
        parts.append("Faithfulness distance (mean): " + ", ".join(
            f"{m} {_fmt(v['mean_distance'], 4)}" for m, v in f["per_method"].items()) + ".")
    else:
        parts.append(f"Faithfulness not defined: {f['reason']}.")
    loc = doc["localization"]
    if loc["defined"]:
        parts.append("IoU@0.5 / pointing game: " + ", ".join(
            f"{m} {_fmt(v['mean_iou'].get('0.5'))} / {_fmt(v['pointing_accuracy'])}"
            for m, v in loc["per_method"].items()) + ".")
    parts.append("Area > 0.5: " + ", ".join(f"{m} {_fmt(v['mean_area_above_half'])}"
                                             for m, v in doc["shape"]["per_method"].items()) + ".")
    return " ".join(parts) + " Tables: evaluation.md, evaluation.json, evaluation.csv."

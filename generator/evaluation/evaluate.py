"""`camstudy evaluate study.toml`: objective faithfulness, localization and shape tables.

Explains the same image-class pairs that `camstudy generate` renders (the same run:
generator/rendering/run.py; same model, images, preprocessing, selection and seed), one
forward and one backward pass per batch through
:func:`generator.engine.cams.compute_cams`, and writes ``evaluation.csv``
(one row per image-class-method), ``evaluation.md`` and ``evaluation.json`` into
the study directory. With ``[evaluation] evaluate = true`` the same measurements
are taken during ``generate`` and the per-pair values go into the manifest.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import torch

from generator.engine.cams import compute_cams
from generator.errors import CamStudyError
from generator.evaluation import faithfulness as faith
from generator.evaluation import localization, report, shape
from generator.rendering import overlay, selection
from generator.rendering.run import check_methods_differ, prepare_run, run_batches, select_jobs

# Per-side values added to the manifest's metrics during `generate` (docs/formats.md).
MANIFEST_KEYS = ("faithfulness_distance", "faithfulness_spearman", "iou_at_half", "pointing_hit",
                 "energy_inside", "blobs", "roundness")


def _clean(value) -> float | int | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return round(value, 6)


class Evaluator:
    """Collects one row per image-class-method from batches that went through compute_cams."""

    def __init__(self, cfg, setup, prep, source, index_of: dict[int, int]) -> None:
        self.cfg, self.setup, self.prep, self.source = cfg, setup, prep, source
        self.source_class = {model: src for src, model in index_of.items()}
        self.methods = list(cfg.pairs.methods)
        self.thresholds = tuple(float(t) for t in cfg.evaluation.thresholds)
        self.segmentation = localization.SegmentationTally(cfg.evaluation.segmentation_threshold)
        found = faith.candidate_linear(setup.model, setup.target_layer, cfg.evaluation.linear_head)
        self.linear_name, self.linear = found if found else (None, None)
        self.faith = faith.FaithfulnessTally(linear_name=self.linear_name)
        self.rows: list[dict] = []
        self.feature_shape: tuple[int, int] | None = None
        self.masks_seen = 0

    @contextmanager
    def observe(self):
        """Wrap the compute_cams call of a batch: hooks see the activation and the head."""
        with faith.capture_head(self.setup.model, self.setup.target_layer, self.linear) as seen:
            yield seen

    def pair_id(self, job: selection.Job) -> str:
        return selection.opaque_token(self.cfg.pairs.seed, self.cfg.study.id, "pair",
                                      job.record.image_id, job.class_index, length=12)

    def masks_for(self, jobs: list[selection.Job], device) -> tuple[torch.Tensor, list[bool]]:
        crop = self.prep.crop
        masks, present = torch.zeros(len(jobs), crop, crop, dtype=torch.bool), []
        for i, job in enumerate(jobs):
            src = self.source_class.get(job.class_index)
            mask = self.source.object_mask(job.record, src) if src is not None else None
            present.append(mask is not None and bool(mask.any()))
            if present[-1]:
                masks[i] = torch.from_numpy(self.prep.crop_mask(mask))
        self.masks_seen += sum(present)
        return masks.to(device), present

    def faithfulness(self, result, seen, normalised) -> dict[str, tuple[list, list]]:
        """method -> (distances, rank correlations) against the ground truth, or {} if undefined."""
        if self.faith.reason is None:
            self.faith.reason = faith.head_reason(seen, result.logits, self.linear_name)
        if self.faith.reason is not None:
            return {}
        self.faith.batches += 1
        truth = faith.ground_truth(self.linear, seen.activation, result.targets)
        self.faith.max_completeness_error = max(
            self.faith.max_completeness_error,
            faith.completeness_error(self.linear, truth, result.logits, result.targets))
        truth01 = overlay.relu_normalize(truth.float())
        return {m: (faith.rms_distance(maps, truth01).cpu().tolist(), faith.spearman(maps, truth01))
                for m, maps in normalised.items()}

    def add(self, jobs: list[selection.Job], result, seen) -> None:
        normalised = {m: overlay.relu_normalize(result.maps[m].float()) for m in self.methods}
        self.feature_shape = tuple(next(iter(normalised.values())).shape[-2:])
        faithful = self.faithfulness(result, seen, normalised)
        masks, present = self.masks_for(jobs, result.logits.device)
        names = [self.setup.class_names[j.class_index] for j in jobs]
        scores = result.scores().float().cpu().tolist()
        keep = torch.tensor(present, device=masks.device)
        for method, maps in normalised.items():
            up = overlay.upsample(maps, self.prep.crop, self.prep.crop)
            sizes = {k: v.cpu().tolist() for k, v in shape.shape_metrics(up).items()}
            iou = localization.iou_at(up, masks, self.thresholds).cpu().tolist()
            hit = localization.pointing_hit(up, masks).cpu().tolist()
            energy = localization.energy_inside(up, masks).cpu().tolist()
            if keep.any():
                self.segmentation.add(method, [n for n, p in zip(names, present) if p], up[keep], masks[keep])
            dist, rho = faithful.get(method, ([None] * len(jobs), [None] * len(jobs)))
            for i, job in enumerate(jobs):
                row = {"pair_id": self.pair_id(job), "image_id": job.record.image_id,
                       "class_index": job.class_index, "class_name": names[i], "method": method,
                       "logit": scores[i], "faithfulness_distance": dist[i], "faithfulness_spearman": rho[i],
                       **{k: v[i] for k, v in sizes.items()}, "has_mask": present[i]}
                row["blobs"] = int(row["blobs"])
                row.update({f"iou_{t:g}": iou[i][n] for n, t in enumerate(self.thresholds)})
                row.update({"pointing_hit": hit[i], "energy_inside": energy[i]})
                self.rows.append({k: (_clean(v) if isinstance(v, float) or v is None else v)
                                  for k, v in row.items()})

    def finish(self) -> None:
        """Once a batch showed the head is not linear, no earlier batch's values stand either."""
        if self.faith.reason is not None:
            for row in self.rows:
                row["faithfulness_distance"] = row["faithfulness_spearman"] = None

    def side_metrics(self) -> dict[tuple[str, int, str], dict]:
        """(image_id, class_index, method) -> values for the manifest's side metrics."""
        half = f"iou_{0.5:g}"
        out = {}
        for r in self.rows:
            out[(r["image_id"], r["class_index"], r["method"])] = {
                "faithfulness_distance": r["faithfulness_distance"],
                "faithfulness_spearman": r["faithfulness_spearman"],
                "iou_at_half": r.get(half), "pointing_hit": r["pointing_hit"],
                "energy_inside": r["energy_inside"], "blobs": r["blobs"], "roundness": r["roundness"]}
        return out


def evaluate_batch(run, evaluator: Evaluator, jobs, displays) -> list:
    """One batch, as in generate's explain_batch but without drawing anything."""
    x = run.prep.normalize(torch.stack(displays).to(run.device))
    if run.setup.dtype != torch.float32:
        x = x.to(run.setup.dtype)
    targets = torch.tensor([j.class_index for j in jobs], device=run.device)
    with evaluator.observe() as seen:
        result = compute_cams(run.setup.model, x, targets, run.setup.target_layer, run.cfg.pairs.methods)
    check_methods_differ(run, result)
    evaluator.add(jobs, result, seen)
    return list(jobs)


def evaluate(config_path: str | Path, out: str | None = None, device: str | None = None,
             weights: str | None = None) -> dict:
    """Evaluate the pairs study.toml selects; returns the evaluation document (evaluation.json)."""
    run, source, index_of = prepare_run(config_path, out, device, weights, local_only=True)
    jobs = select_jobs(run, source, index_of)
    if not jobs:
        raise CamStudyError(f"{run.cfg.path}: nothing to evaluate: no image-class pairs for "
                            f"[pairs] classes = {run.cfg.pairs.classes!r}")
    evaluator = Evaluator(run.cfg, run.setup, run.prep, source, index_of)
    done = run_batches(run, source, jobs, run.cfg.pairs.n or len(jobs),
                       lambda js, ds: evaluate_batch(run, evaluator, js, ds), desc="evaluating")
    if not done:
        raise CamStudyError(f"{run.cfg.path}: every selected image failed to load: {run.skipped[:5]}")
    evaluator.finish()
    doc = report.write_all(run.out_dir, evaluator, run.skipped)
    report.relink_gallery(run.out_dir)
    return doc

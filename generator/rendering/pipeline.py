"""`camstudy generate`: from study.toml to a study directory of blinded A/B pairs.

The run (generator/rendering/run.py) gives the model, the images and the candidate pairs;
here each batch goes through the model (both maps, the void-pair check) and is drawn,
encoded and written; then the attention checks, the sides, the manifest, pairs.csv, the
raw maps and the gallery.
"""
from __future__ import annotations

import io
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.io import decode_image

from camstudy import __version__
from generator.engine.cams import compute_cams
from generator.errors import CamStudyError
from generator.evaluation import report as evaluation_report
from generator.evaluation.evaluate import Evaluator
from generator.rendering import attention, overlay, selection
from generator.rendering.encode import FORMATS, encode_batch, encode_stimuli
from generator.rendering.run import Run, check_methods_differ, prepare_run, run_batches, select_jobs
from generator.rendering.stage import OrderedStage, worker_count
from generator.rendering.storage import write_if_changed
from generator.rendering.writers import write_gallery, write_manifest, write_pairs_csv


@dataclass
class Rendered:
    """One explained image-class pair, before sides are assigned."""

    job: selection.Job
    logit: float
    probability: float
    files: dict[str, dict]          # method -> {"file", "sha256", "metrics"}
    original: dict | None = None    # {"file", "sha256"}
    difference: float = 0.0         # RMS distance between the two sides' normalised maps
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # method -> feature-resolution map
    logits: np.ndarray | None = None                          # every class's logit


def to_display(run: Run, batch: torch.Tensor) -> torch.Tensor:
    """Scale the model's crop up (or down) to the size shown to participants."""
    if batch.shape[-1] == run.display_size:
        return batch
    return F.interpolate(batch.float(), size=(run.display_size,) * 2, mode="bilinear",
                         align_corners=False, antialias=True).round().clamp(0, 255).to(torch.uint8)


def probabilities(logits: torch.Tensor, kind: str) -> torch.Tensor:
    return torch.sigmoid(logits) if kind == "sigmoid" else torch.softmax(logits, dim=1)


def map_differences(maps01: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per pair, the root-mean-square distance between the two methods' normalised maps
    (display resolution, values in [0, 1]): 0 for identical maps, about 0.5 for disjoint ones."""
    first, second = maps01.values()
    return (first - second).square().flatten(1).mean(dim=1).sqrt()


@dataclass
class Explained:
    """A batch after the model: the pairs worth showing and what their stimuli are drawn from."""

    rendered: list[Rendered]
    shown: torch.Tensor               # their display crops, B×3×H×W uint8, on the device
    maps01: dict[str, torch.Tensor]   # method -> B×H×W display-resolution maps in [0, 1], on the device
    new_originals: list[int]          # positions in ``rendered`` whose original photo this batch writes


def explain_batch(run: Run, jobs: list[selection.Job], displays: list[torch.Tensor],
                  claimed: set[str]) -> Explained | None:
    """The model's part of a batch (main thread): both maps, logits, the void-pair check.

    ``claimed``: image ids whose original photo an earlier batch writes (updated here), so
    each original is encoded once. None when every pair of the batch is void."""
    crops = torch.stack(displays).to(run.device)
    x = run.prep.normalize(crops)
    if run.setup.dtype != torch.float32:
        x = x.to(run.setup.dtype)
    targets = torch.tensor([j.class_index for j in jobs], device=run.device)
    with (run.evaluator.observe() if run.evaluator else nullcontext()) as seen:
        result = compute_cams(run.setup.model, x, targets, run.setup.target_layer, run.cfg.pairs.methods)
    if run.evaluator is not None:
        run.evaluator.add(jobs, result, seen)  # the same pass: no second forward/backward
    check_methods_differ(run, result)
    probs = probabilities(result.logits.float(), run.setup.probability)
    scores = result.scores().float().cpu().tolist()
    p_of_target = probs.gather(1, targets[:, None])[:, 0].cpu().tolist()
    logits = result.logits.float().cpu().numpy()
    raw_maps = {method: raw.float().cpu().numpy() for method, raw in result.maps.items()}
    maps01 = {method: overlay.upsample(overlay.relu_normalize(raw.float()), run.display_size, run.display_size)
              for method, raw in result.maps.items()}
    differences = map_differences(maps01).cpu().tolist()
    rendered = [Rendered(j, scores[i], p_of_target[i], {}, difference=differences[i],
                         raw={m: r[i] for m, r in raw_maps.items()}, logits=logits[i])
                for i, j in enumerate(jobs)]
    keep = [i for i, item in enumerate(rendered) if item.difference >= run.cfg.pairs.min_map_difference]
    run.void += [item for i, item in enumerate(rendered) if item.difference < run.cfg.pairs.min_map_difference]
    if not keep:
        return None
    shown = to_display(run, crops)
    if len(keep) < len(rendered):  # index only when a pair was dropped: indexing copies
        index = torch.tensor(keep, device=run.device)
        rendered, shown = [rendered[i] for i in keep], shown[index]
        maps01 = {method: m01[index] for method, m01 in maps01.items()}
    new = []
    if run.cfg.render.show_original:
        for i, item in enumerate(rendered):
            if item.job.record.image_id not in claimed:
                claimed.add(item.job.record.image_id)
                new.append(i)
    return Explained(rendered, shown, maps01, new)


@contextmanager
def one_torch_thread():
    """Torch on one thread while drawing, in a render worker as in the serial path.

    Drawing's ops are small; a second OpenMP team on the cores the model's team uses
    stalls both (10-50x slower per op on a busy 2-core machine). And with one thread a
    reduction's result never depends on the thread count, so the metrics are the same
    bytes whatever the number of workers or cores. Per thread: the model's thread keeps
    its own setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def draw_batch(run: Run, batch: Explained, originals: dict[str, dict]) -> None:
    with one_torch_thread():
        _draw_batch(run, batch, originals)


def _draw_batch(run: Run, batch: Explained, originals: dict[str, dict]) -> None:
    """Everything after the maps (a worker thread, or inline when serial): metrics, overlays,
    layout-free PNGs, the batch's new original photos; files written, entries filled in.
    ``originals`` gets image id -> the original's entry."""
    files, metrics = [], {}
    base = batch.shown.float()  # converted once for both methods' blending
    for method, m01 in batch.maps01.items():
        metrics[method] = overlay.map_metrics(m01)
        for item, data in zip(batch.rendered, run.encode_overlays(base, m01)):
            files.append((run.name(item.job.record.image_id, item.job.class_index, method), data))
    saved = run.save_all(files)
    for i, item in enumerate(batch.rendered):
        for method in batch.maps01:
            entry = saved[run.name(item.job.record.image_id, item.job.class_index, method)]
            item.files[method] = {**entry, "metrics": metrics[method][i]}
    if batch.new_originals:
        index = torch.tensor(batch.new_originals, device=batch.shown.device)
        data = encode_batch(batch.shown[index], run.settings.format, run.settings.jpeg_quality,
                            run.settings.png_compression)
        for i, blob in zip(batch.new_originals, data):
            image_id = batch.rendered[i].job.record.image_id
            originals[image_id] = run.save(run.name(image_id, "original", ext=FORMATS[run.settings.format]), blob)


def render_pairs(run: Run, source, jobs, limit: int, desc: str = "rendering",
                 workers: int | None = None) -> list:
    """The first ``limit`` jobs (stratified order) whose image loads, rendered in batches.

    Rendering can overlap the model with the drawing: the main thread runs each batch through
    the model (``explain_batch``) while ``workers`` threads (generator/rendering/stage.py; default
    $CAMSTUDY_RENDER_WORKERS, else 1 on CUDA and 0 = serial on the CPU) draw, encode and
    write the batches before it (``draw_batch``). The same files with the same bytes come
    out either way.
    """
    originals: dict[str, dict] = {}
    claimed: set[str] = set()
    # overlap by default where the model leaves the CPU free (CUDA); on the CPU the drawing
    # would only take cores from the model's threads (BENCHMARKS.md: serial was as fast or faster)
    with OrderedStage(worker_count(workers, default=int(run.device.type == "cuda"))) as stage:
        def explain_then_draw(batch_jobs, displays):
            batch = explain_batch(run, batch_jobs, displays, claimed)
            if batch is None:
                return []
            stage.submit(draw_batch, run, batch, originals)
            return batch.rendered

        done = run_batches(run, source, jobs, limit, explain_then_draw, desc)
        stage.drain()
    for item in done:
        item.original = originals.get(item.job.record.image_id)
    return done


def render_attention_checks(run: Run, source, rendered: list[Rendered]) -> list[dict]:
    """Catch pairs on study images: a broad region on one side, a focal blob on the other."""
    k = run.cfg.pairs.attention_checks
    if k == 0 or not rendered:
        return []
    rng = np.random.default_rng([run.cfg.pairs.seed, 3])
    picks = [rendered[i] for i in rng.choice(len(rendered), size=min(k, len(rendered)), replace=False)]
    broad_first = selection.assign_first_side([0] * len(picks), run.cfg.pairs.seed + 7)
    checks = []
    for n, item in enumerate(picks):
        display = run.prep.display(source.load(item.job.record))
        shown = to_display(run, display[None].to(run.device))
        broad, focal = attention.catch_maps(rng, size=max(8, run.display_size // 4))
        maps01 = overlay.upsample(torch.stack([broad, focal]).to(run.device), run.display_size, run.display_size)
        files = run.encode_overlays(shown.expand(2, -1, -1, -1), maps01)
        metrics = overlay.map_metrics(maps01)
        names = [run.name("catch", n, kind) for kind in ("broad", "focal")]
        saved = run.save_all(list(zip(names, files)))
        sides = {kind: {"method": None, **saved[name], "metrics": m}
                 for kind, name, m in zip(("broad", "focal"), names, metrics)}
        broad_side = "A" if broad_first[n] else "B"
        focal_side = "B" if broad_side == "A" else "A"
        checks.append({
            "pair_id": selection.opaque_token(run.cfg.pairs.seed, run.cfg.study.id, "pair", "catch", n, length=12),
            "image_id": item.job.record.image_id,
            "class_index": item.job.class_index,
            "class_name": run.setup.class_names[item.job.class_index],
            "logit": None, "probability": None,
            "is_attention_check": True,
            "expected": attention.expected_answers(broad_side),
            "original": item.original,
            "sides": {broad_side: sides["broad"], focal_side: sides["focal"]},
        })
    return checks


def pair_entries(run: Run, rendered: list[Rendered]) -> list[dict]:
    first, second = run.cfg.pairs.methods
    first_is_a = selection.assign_first_side([r.job.class_index for r in rendered], run.cfg.pairs.seed)
    entries = []
    for item, a_first in zip(rendered, first_is_a):
        a, b = (first, second) if a_first else (second, first)
        entries.append({
            "pair_id": run.pair_id(item.job.record.image_id, item.job.class_index),
            "map_difference": round(item.difference, 6),
            "image_id": item.job.record.image_id,
            "image_source": item.job.record.source,
            "class_index": item.job.class_index,
            "class_name": run.setup.class_names[item.job.class_index],
            "logit": round(item.logit, 6),
            "probability": round(item.probability, 6),
            "is_attention_check": False,
            "expected": None,
            "original": item.original,
            "sides": {"A": {"method": a, **item.files[a]}, "B": {"method": b, **item.files[b]}},
        })
    return entries


def add_composites(run: Run, pairs: list[dict]) -> None:
    """One image per pair, original | A | B, the same layout for every pair."""

    def pixels(entry: dict) -> torch.Tensor:
        data = (run.out_dir / entry["file"]).read_bytes()
        return decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8))

    for pair in pairs:
        panels = [pixels(pair["sides"][s]) for s in "AB"]
        left = pixels(pair["original"]) if pair.get("original") else torch.full_like(panels[0], 255)
        canvas = overlay.composite(left[None], panels[0][None], panels[1][None], run.settings.gap)
        (data,) = encode_stimuli(canvas)
        pair["composite"] = run.save(run.name(pair["pair_id"], "composite"), data)


def generate(config_path: str | Path, out: str | None = None, device: str | None = None,
             weights: str | None = None) -> dict:
    """Render the study described by ``config_path`` into its study directory; returns the
    manifest (as written to manifest.json; its ``summary`` feeds ``generator.summary_text``)."""
    started = time.perf_counter()
    run, source, index_of = prepare_run(config_path, out, device, weights)
    cfg, out_dir = run.cfg, run.out_dir
    if cfg.evaluation.evaluate:
        run.evaluator = Evaluator(cfg, run.setup, run.prep, source, index_of)

    jobs = select_jobs(run, source, index_of)
    if not jobs:
        raise CamStudyError(
            f"{cfg.path}: nothing to explain: {len(source.records)} images and no image-class pairs for "
            f"[pairs] classes = {cfg.pairs.classes!r}"
            + (f" ({len(run.skipped)} images skipped)" if run.skipped else "")
        )
    limit = cfg.pairs.n or len(jobs)
    rendered = render_pairs(run, source, jobs, limit)
    if not rendered and run.void:
        raise CamStudyError(
            f"{cfg.path}: all {len(run.void)} candidate pairs are void: their two maps differ by less than "
            f"[pairs] min_map_difference = {cfg.pairs.min_map_difference} (largest difference "
            f"{max(v.difference for v in run.void):.4f}), so nobody could tell the sides apart. Use a model "
            "whose Grad-CAM and HiResCAM maps differ (head = \"flatten\", an earlier target_layer) or lower "
            "the threshold knowingly.")
    if not rendered:
        raise CamStudyError(f"{cfg.path}: every selected image failed to load; see the skipped list: {run.skipped[:5]}")
    if run.evaluator is not None:
        add_evaluation_metrics(run, rendered)
    pairs = pair_entries(run, rendered) + render_attention_checks(run, source, rendered)
    if cfg.render.composite:
        add_composites(run, pairs)
    elapsed = time.perf_counter() - started
    summary = {
        "pairs": len(rendered), "attention_checks": len(pairs) - len(rendered),
        "images": len({r.job.record.image_id for r in rendered}),
        "classes": len({r.job.class_index for r in rendered}),
        "first_method_as_a": sum(p["sides"]["A"]["method"] == cfg.pairs.methods[0] for p in pairs),
        "void_pairs": len(run.void), "min_map_difference": cfg.pairs.min_map_difference,
        "skipped_images": run.skipped, "files_written": run.written, "files_unchanged": run.reused,
        "seconds": round(elapsed, 2),
    }
    manifest = build_manifest(run, pairs, summary)
    manifest["void_pairs"] = void_entries(run)
    manifest["raw_maps"] = RAW_MAPS
    write_raw_maps(out_dir / RAW_MAPS, run, rendered + run.void)
    write_manifest(out_dir / "manifest.json", manifest)
    write_pairs_csv(out_dir / "pairs.csv", manifest)
    if run.evaluator is not None:
        evaluation_report.write_all(out_dir, run.evaluator, run.skipped)
    write_gallery(out_dir / "gallery.html", manifest)
    write_if_changed(out_dir / "study.toml", cfg.text.encode())
    return manifest


RAW_MAPS = "raw_maps.npz"


def void_entries(run: Run) -> list[dict]:
    """Candidates left out because their sides are too alike (listed, never shown)."""
    return [{"pair_id": run.pair_id(v.job.record.image_id, v.job.class_index),
             "image_id": v.job.record.image_id, "class_index": v.job.class_index,
             "class_name": run.setup.class_names[v.job.class_index],
             "map_difference": round(v.difference, 6)} for v in run.void]


def write_raw_maps(path: Path, run: Run, items: list[Rendered]) -> None:
    """Both methods' raw feature-resolution maps (before ReLU and normalisation) and every
    class's logits, keyed ``<pair_id>/<method>`` and ``<pair_id>/logits``, shown and void pairs
    alike: enough to audit or re-render every stimulus. Researcher-facing: never uploaded
    or served (docs/formats.md)."""
    arrays = {}
    for item in sorted(items, key=lambda r: run.pair_id(r.job.record.image_id, r.job.class_index)):
        pid = run.pair_id(item.job.record.image_id, item.job.class_index)
        arrays.update({f"{pid}/{method}": raw for method, raw in item.raw.items()})
        arrays[f"{pid}/logits"] = item.logits
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_if_changed(path, buf.getvalue())


def add_evaluation_metrics(run: Run, rendered: list[Rendered]) -> None:
    """Put each side's objective values (faithfulness, localization, shape) into its metrics."""
    run.evaluator.finish()
    values = run.evaluator.side_metrics()
    for item in rendered:
        for method, entry in item.files.items():
            entry["metrics"].update(values.get((item.job.record.image_id, item.job.class_index, method), {}))


def build_manifest(run: Run, pairs: list[dict], summary: dict) -> dict:
    cfg = run.cfg
    storage = run.s3.describe() if run.s3 else {"kind": "local", "url_mode": "relative", "base_url": None}
    return {
        "format_version": 1,
        "kind": "camstudy-manifest",
        "study_id": cfg.study.id,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "generator_version": __version__,
        "seeds": {"pairs": cfg.pairs.seed, "sample": [cfg.pairs.seed, 1], "sides": [cfg.pairs.seed, 2],
                  "attention": [cfg.pairs.seed, 3], "names": cfg.pairs.seed},
        "device": str(run.device),
        "model": run.setup.describe(),
        "target_layer": run.setup.target_layer,
        "methods": list(cfg.pairs.methods),
        "questions": list(attention.EXPECTED),
        "preprocess": run.prep.to_dict(),
        "render": {"width": run.display_size, "height": run.display_size, "colormap": cfg.render.colormap,
                   "alpha": cfg.render.alpha, "format": cfg.render.format, "composite": cfg.render.composite,
                   "show_original": cfg.render.show_original},
        "storage": storage,
        "summary": summary,
        "pairs": pairs,
    }

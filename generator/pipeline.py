"""`camstudy generate`: from study.toml to a study directory of blinded A/B pairs."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from generator import __version__, attention, config, render, selection
from generator.cams import compute_cams
from generator.encode import CONTENT_TYPES, FORMATS, encode_batch, encode_stimuli
from generator.errors import CamStudyError
from generator.images import ImageLoadError
from generator.model_setup import ModelSetup, checkpoint_metadata, setup_model, weights_path
from generator.preprocess import Preprocess
from generator.sources import build_source, class_index_map
from generator.stage import OrderedStage, worker_count
from generator.storage import S3Target, S3Uploader, sha256, write_if_changed
from generator.writers import write_gallery, write_manifest, write_pairs_csv


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


@dataclass
class Run:
    cfg: config.GeneratorConfig
    out_dir: Path
    device: torch.device
    setup: ModelSetup
    prep: Preprocess
    settings: render.RenderSettings
    display_size: int
    uploader: S3Uploader | None = None
    s3: S3Target | None = None
    written: int = 0
    reused: int = 0
    skipped: list = field(default_factory=list)
    void: list = field(default_factory=list)      # Rendered pairs too alike to show
    methods_checked: bool = False                 # the methods-coincide check ran on real data
    evaluator: object | None = None  # generator.evaluate.Evaluator when [evaluation] evaluate = true
    counting: threading.Lock = field(default_factory=threading.Lock, repr=False)  # render workers save too

    def save(self, relative: str, data: bytes) -> dict:
        written = write_if_changed(self.out_dir / relative, data)
        with self.counting:
            self.written += written
            self.reused += not written
        if self.uploader is not None:
            self.uploader.put(relative, data, CONTENT_TYPES["png" if relative.endswith(".png") else "jpeg"])
        entry = {"file": relative, "sha256": sha256(data), "url": self.s3.url(relative) if self.s3 else None}
        return entry

    def encode_overlays(self, shown: torch.Tensor, maps01: torch.Tensor) -> list[bytes]:
        """Heat overlays of display-resolution maps as layout-free PNGs: the one path every
        stimulus side takes (generator/encode.py says why no other encoding)."""
        heat = render.apply_colormap(maps01, render.colormap(self.settings.colormap, self.device))
        return encode_stimuli(render.blend(shown, heat, self.settings.alpha))

    def name(self, *parts, ext: str = ".png") -> str:
        token = selection.opaque_token(self.cfg.pairs.seed, self.cfg.study.id, *parts)
        return f"stimuli/{token}{ext}"

    def save_all(self, files: list[tuple[str, bytes]]) -> dict[str, dict]:
        """Save files in the order of their opaque names, so that write and upload times
        (an S3 object's Last-Modified) follow no method."""
        return {name: self.save(name, data) for name, data in sorted(files)}

    def pair_id(self, image_id: str, class_index: int) -> str:
        return selection.opaque_token(self.cfg.pairs.seed, self.cfg.study.id, "pair", image_id, class_index,
                                      length=12)


def pick_device(name: str) -> torch.device:
    device = _device(name)
    full_float32(device)
    return device


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CamStudyError(f"[model] device = {name!r} but CUDA is not available here; use 'auto' or 'cpu'")
    return device


def full_float32(device: torch.device) -> None:
    """No TF32 on the GPU: cuDNN's TF32 convolutions (its default on recent GPUs) move the
    maps by about 1e-3 of their scale, and a study should not depend on the machine that
    rendered it (tests/generator/test_cuda_parity.py: 1e-4)."""
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


def to_display(run: Run, batch: torch.Tensor) -> torch.Tensor:
    """Scale the model's crop up (or down) to the size shown to participants."""
    if batch.shape[-1] == run.display_size:
        return batch
    return F.interpolate(batch.float(), size=(run.display_size,) * 2, mode="bilinear",
                         align_corners=False, antialias=True).round().clamp(0, 255).to(torch.uint8)


def probabilities(logits: torch.Tensor, kind: str) -> torch.Tensor:
    return torch.sigmoid(logits) if kind == "sigmoid" else torch.softmax(logits, dim=1)


class CoincidentMethodsError(CamStudyError):
    """The compared methods give the same map for this model: every pair would be void."""


def map_differences(maps01: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per pair, the root-mean-square distance between the two methods' normalised maps
    (display resolution, values in [0, 1]): 0 for identical maps, about 0.5 for disjoint ones."""
    first, second = maps01.values()
    return (first - second).square().flatten(1).mean(dim=1).sqrt()


def check_methods_differ(run: Run, result) -> None:
    """Stop before anything is written when Grad-CAM and HiResCAM coincide for the model.

    On a global-average-pooling head at the last feature map every location's gradient is
    the class weight divided by h*w, so Grad-CAM = HiResCAM = CAM/(h*w): a study of such
    pairs compares a method with itself. Checked once, on the first batch whose maps are not
    all zero, from the raw maps (exact up to rounding, whatever the image)."""
    if run.methods_checked or set(result.maps) != {"gradcam", "hirescam"}:
        return
    g, h = result.maps["gradcam"].float(), result.maps["hirescam"].float()
    scale = torch.maximum(g.abs().flatten(1).amax(dim=1), h.abs().flatten(1).amax(dim=1))
    informative = scale > 0
    if not bool(informative.any()):
        return
    run.methods_checked = True
    gap = (g - h).abs().flatten(1).amax(dim=1)[informative] / scale[informative]
    if bool((gap < 1e-4).all()):
        cfg = run.cfg
        raise CoincidentMethodsError(
            f"{cfg.path}: Grad-CAM and HiResCAM give the same map for this model at target layer "
            f"{run.setup.target_layer!r} ([model] arch = {run.setup.arch!r}, head = {run.setup.head!r}). "
            "Behind a global-average-pooling head followed by one linear layer the two methods "
            "coincide (Grad-CAM = HiResCAM = CAM/(h*w)), so every pair would show the same image "
            "twice and the study would be void. Fixes: set [model] head = \"flatten\" (one linear "
            "layer on the flattened feature map, the HiResCAM paper's \"v\" models; fine-tune it with "
            "`camstudy train`), or explain an earlier feature map with [model] target_layer "
            "(e.g. \"layer3\" for a ResNet), or use a model whose head is not pooling + one linear layer.")


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
    maps01 = {method: render.upsample(render.relu_normalize(raw.float()), run.display_size, run.display_size)
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
        metrics[method] = render.map_metrics(m01)
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


def load_display(run: Run, source, record, cache: dict) -> torch.Tensor | None:
    if record.image_id in cache:
        return cache[record.image_id]
    try:
        display = run.prep.display(source.load(record))
    except ImageLoadError as exc:
        run.skipped.append({"image": record.source, "reason": str(exc)})
        display = None
    cache[record.image_id] = display
    return display


def render_pairs(run: Run, source, jobs, limit: int, process=None, desc: str = "rendering",
                 workers: int | None = None) -> list:
    """The first ``limit`` jobs (stratified order) whose image loads, rendered in batches.

    Rendering can overlap the model with the drawing: the main thread runs each batch through
    the model (``explain_batch``) while ``workers`` threads (generator/stage.py; default
    $CAMSTUDY_RENDER_WORKERS, else 1 on CUDA and 0 = serial on the CPU) draw, encode and
    write the batches before it (``draw_batch``). The same files with the same bytes come
    out either way.
    ``process(jobs, displays) -> kept`` replaces rendering (`evaluate` passes its own).
    """
    if process is not None:
        return run_batches(run, source, jobs, limit, process, desc)
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


def run_batches(run: Run, source, jobs, limit: int, process, desc: str) -> list:
    """Feed ``process(jobs, displays) -> kept`` batches of loaded images until ``limit`` are kept.

    A batch may keep fewer items than it got (rendering drops void pairs): the next
    candidates in the same order take their place.
    """
    done: list = []
    cache: dict = {}
    order = iter(selection.stratified_order(jobs, run.cfg.pairs.seed))
    bar = tqdm(total=limit, unit="pair", desc=desc, disable=None, dynamic_ncols=True)
    exhausted = False
    while len(done) < limit and not exhausted:
        batch_jobs, batch_displays = [], []
        while len(batch_jobs) < min(run.cfg.model.batch_size, limit - len(done)):
            job = next(order, None)
            if job is None:
                exhausted = True
                break
            display = load_display(run, source, job.record, cache)
            if display is not None:
                batch_jobs.append(job)
                batch_displays.append(display)
        if batch_jobs:
            kept = process(batch_jobs, batch_displays)
            done += kept
            bar.update(len(kept))
    bar.close()
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
        maps01 = render.upsample(torch.stack([broad, focal]).to(run.device), run.display_size, run.display_size)
        files = run.encode_overlays(shown.expand(2, -1, -1, -1), maps01)
        metrics = render.map_metrics(maps01)
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
    from torchvision.io import decode_image

    def pixels(entry: dict) -> torch.Tensor:
        data = (run.out_dir / entry["file"]).read_bytes()
        return decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8))

    for pair in pairs:
        panels = [pixels(pair["sides"][s]) for s in "AB"]
        left = pixels(pair["original"]) if pair.get("original") else torch.full_like(panels[0], 255)
        canvas = render.composite(left[None], panels[0][None], panels[1][None], run.settings.gap)
        (data,) = encode_stimuli(canvas)
        pair["composite"] = run.save(run.name(pair["pair_id"], "composite"), data)


def prepare_run(config_path: str | Path, out: str | None = None, device: str | None = None,
                weights: str | None = None, local_only: bool = False) -> tuple[Run, object, dict[int, int]]:
    """The model, image source and output place study.toml describes (shared with `evaluate`).

    ``local_only``: never upload (evaluate writes researcher-facing files only).
    """
    cfg = config.load(config_path)
    dev = pick_device(device or cfg.model.device)
    path = weights_path(cfg, weights or cfg.model.weights)
    meta = checkpoint_metadata(path) if path is not None and path.is_file() else {}
    source = build_source(cfg, list(cfg.model.class_names) or meta.get("class_names"))
    setup = setup_model(cfg, dev, source.class_names, weights_override=weights)
    index_of = class_index_map(source.class_names, setup.class_names, cfg.path)
    prep = Preprocess(resize=cfg.images.resize or None, crop=cfg.images.crop,
                      mean=tuple(cfg.images.mean), std=tuple(cfg.images.std))
    settings = render.RenderSettings(colormap=cfg.render.colormap, alpha=cfg.render.alpha,
                                     format=cfg.render.format, jpeg_quality=cfg.render.jpeg_quality,
                                     png_compression=cfg.render.png_compression, composite=cfg.render.composite)
    render.colormap(settings.colormap)  # fail early on an unknown colormap
    out_dir, s3 = output_location(cfg, out)
    run = Run(cfg, out_dir, dev, setup, prep, settings, cfg.render.display_size or cfg.images.crop)
    if s3 is not None and not local_only:
        run.s3, run.uploader = s3, S3Uploader(s3)
    run.skipped.extend({"image": s, "reason": r} for s, r in source.skipped)
    return run, source, index_of


def generate(config_path: str | Path, out: str | None = None, device: str | None = None,
             weights: str | None = None) -> dict:
    """Render the study described by ``config_path``; returns the manifest's summary."""
    started = time.perf_counter()
    run, source, index_of = prepare_run(config_path, out, device, weights)
    cfg, out_dir = run.cfg, run.out_dir
    if cfg.evaluation.evaluate:
        from generator.evaluate import Evaluator
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
        from generator import evaluation_report
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
    import io

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


def select_jobs(run: Run, source, index_of: dict[int, int]) -> list[selection.Job]:
    cfg = run.cfg
    records = [type(r)(r.image_id, r.source, tuple(index_of[c] for c in r.classes if c in index_of))
               for r in source.records]
    if cfg.pairs.classes == "ground_truth":
        return selection.ground_truth_jobs(records)
    if cfg.pairs.classes == "list":
        missing = [c for c in cfg.pairs.class_list if c not in run.setup.class_names]
        if missing:
            raise CamStudyError(f"{cfg.path}: [pairs] class_list names unknown classes {missing}; "
                                f"the model's classes: {run.setup.class_names}")
        return selection.list_jobs(records, [run.setup.class_names.index(c) for c in cfg.pairs.class_list])
    return top_k_jobs(run, source, records)


def top_k_jobs(run: Run, source, records) -> list[selection.Job]:
    """The model's top-k predicted classes for every image that loads."""
    jobs, cache = [], {}
    size = run.cfg.model.batch_size
    for start in tqdm(range(0, len(records), size), desc="predicting", unit="batch", disable=None):
        chunk = [r for r in records[start : start + size] if load_display(run, source, r, cache) is not None]
        if not chunk:
            continue
        x = run.prep.normalize(torch.stack([cache[r.image_id] for r in chunk]).to(run.device))
        with torch.inference_mode():
            logits = run.setup.model(x.to(run.setup.dtype))
        top = logits.topk(min(run.cfg.pairs.top_k, logits.shape[1]), dim=1).indices.cpu().tolist()
        jobs += [selection.Job(r, c) for r, cs in zip(chunk, top) for c in cs]
    return jobs


def output_location(cfg: config.GeneratorConfig, out: str | None) -> tuple[Path, S3Target | None]:
    target = out or cfg.output.dir
    if target.startswith("s3://"):
        s3 = S3Target.parse(target, url_mode=cfg.output.url_mode, public_base_url=cfg.output.public_base_url,
                            endpoint_url=cfg.output.s3_endpoint_url)
        if s3.url_mode == "public" and not s3.public_base_url:
            raise CamStudyError(f"{cfg.path}: [output] url_mode = 'public' needs public_base_url")
        local = cfg.resolve(f"{cfg.study.id}-study")
        return local, s3
    return (Path(out).resolve() if out else cfg.resolve(cfg.output.dir)), None


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

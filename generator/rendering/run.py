"""A run of a study, shared by `camstudy generate` and `camstudy evaluate`.

study.toml -> the device, the model, the image source, the preprocessing and the output
place (``prepare_run``); the candidate image-class pairs (``select_jobs``); the batch loop
that feeds loaded images to a batch function until enough pairs are kept (``run_batches``);
and the check that the two compared methods do not coincide for the model.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from generator.engine.model_setup import ModelSetup, checkpoint_metadata, setup_model, weights_path
from generator.errors import CamStudyError
from generator.inputs.images import ImageLoadError
from generator.inputs.preprocess import Preprocess
from generator.inputs.sources import build_source, class_index_map
from generator.rendering import overlay, selection
from generator.rendering.encode import CONTENT_TYPES, encode_stimuli
from generator.rendering.storage import S3Target, S3Uploader, sha256, write_if_changed
from generator.settings import GeneratorConfig
from generator.settings import load as load_config


@dataclass
class Run:
    """What a run set up from study.toml, where its files go, and what it has counted so far."""

    cfg: GeneratorConfig
    out_dir: Path
    device: torch.device
    setup: ModelSetup
    prep: Preprocess
    settings: overlay.RenderSettings
    display_size: int
    uploader: S3Uploader | None = None
    s3: S3Target | None = None
    written: int = 0
    reused: int = 0
    skipped: list = field(default_factory=list)
    void: list = field(default_factory=list)      # Rendered pairs too alike to show
    methods_checked: bool = False                 # the methods-coincide check ran on real data
    evaluator: object | None = None  # generator.evaluation.evaluate.Evaluator when [evaluation] evaluate = true
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
        stimulus side takes (generator/rendering/encode.py says why no other encoding)."""
        heat = overlay.apply_colormap(maps01, overlay.colormap(self.settings.colormap, self.device))
        return encode_stimuli(overlay.blend(shown, heat, self.settings.alpha))

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


def prepare_run(config_path: str | Path, out: str | None = None, device: str | None = None,
                weights: str | None = None, local_only: bool = False) -> tuple[Run, object, dict[int, int]]:
    """The model, image source and output place study.toml describes (shared with `evaluate`).

    ``local_only``: never upload (evaluate writes researcher-facing files only).
    """
    cfg = load_config(config_path)
    dev = pick_device(device or cfg.model.device)
    path = weights_path(cfg, weights or cfg.model.weights)
    meta = checkpoint_metadata(path) if path is not None and path.is_file() else {}
    source = build_source(cfg, list(cfg.model.class_names) or meta.get("class_names"))
    setup = setup_model(cfg, dev, source.class_names, weights_override=weights)
    index_of = class_index_map(source.class_names, setup.class_names, cfg.path)
    prep = Preprocess(resize=cfg.images.resize or None, crop=cfg.images.crop,
                      mean=tuple(cfg.images.mean), std=tuple(cfg.images.std))
    settings = overlay.RenderSettings(colormap=cfg.render.colormap, alpha=cfg.render.alpha,
                                      format=cfg.render.format, jpeg_quality=cfg.render.jpeg_quality,
                                      png_compression=cfg.render.png_compression, composite=cfg.render.composite)
    overlay.colormap(settings.colormap)  # fail early on an unknown colormap
    out_dir, s3 = output_location(cfg, out)
    run = Run(cfg, out_dir, dev, setup, prep, settings, cfg.render.display_size or cfg.images.crop)
    if s3 is not None and not local_only:
        run.s3, run.uploader = s3, S3Uploader(s3)
    run.skipped.extend({"image": s, "reason": r} for s, r in source.skipped)
    return run, source, index_of


def output_location(cfg: GeneratorConfig, out: str | None) -> tuple[Path, S3Target | None]:
    target = out or cfg.output.dir
    if target.startswith("s3://"):
        s3 = S3Target.parse(target, url_mode=cfg.output.url_mode, public_base_url=cfg.output.public_base_url,
                            endpoint_url=cfg.output.s3_endpoint_url)
        if s3.url_mode == "public" and not s3.public_base_url:
            raise CamStudyError(f"{cfg.path}: [output] url_mode = 'public' needs public_base_url")
        local = cfg.resolve(f"{cfg.study.id}-study")
        return local, s3
    return (Path(out).resolve() if out else cfg.resolve(cfg.output.dir)), None


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
    rendered it (tests/generator/rendering/test_cuda_parity.py: 1e-4)."""
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


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


class CoincidentMethodsError(CamStudyError):
    """The compared methods give the same map for this model: every pair would be void."""


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

"""Training (`camstudy train`): the demo CNN, or a torchvision model fine-tuned on your images.

Both paths train with multi-label binary cross-entropy (an image may show several
classes), use the same :class:`~generator.inputs.preprocess.Preprocess` as ``camstudy
generate``, and write a checkpoint dict that ``generator.models.load_model`` reads::

    {"state_dict", "arch", "head", "num_classes", "input_size", "class_names",
     "preprocess", "seed", "metrics"}

Training is deterministic from ``--seed``: seeded generators for order and
augmentation, deterministic algorithms, and a fixed number of CPU threads (results
on a GPU may still differ in the last bits from those on a CPU).
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from generator.engine.model_setup import checkpoint_metadata
from generator.engine.models import load_model
from generator.errors import CamStudyError, ModelLoadError
from generator.inputs.demo_data import DEMO_CLASSES, make_scene
from generator.inputs.demo_model import DEMO_VERSION, build_demo_cnn, zero_head
from generator.inputs.images import ImageLoadError, ImageRecord, ImageSource
from generator.inputs.preprocess import Preprocess, demo_preprocess

DEMO_INPUT_SIZE = 128
DEMO_IMAGE_SIZE = 128
DEMO_TRAIN_IMAGES = 4000
DEMO_TEST_IMAGES = 500
DEMO_EPOCHS = 7
DEMO_BATCH = 32
DEMO_LR = 3e-3
DEFAULT_THREADS = 2


# --------------------------------------------------------------------------- metrics

def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the precision-recall curve as the mean precision at each positive (NaN if none)."""
    n_pos = int(positives.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = positives[order].astype(np.float64)
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / n_pos)


def multilabel_metrics(logits: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str]) -> dict:
    """Per-class accuracy (threshold p=0.5) and AP, their means, and the exact-match rate."""
    scores = logits.detach().float().cpu().numpy()
    truth = labels.detach().cpu().numpy() > 0.5
    predicted = scores > 0
    per_class = {}
    for k, name in enumerate(class_names):
        per_class[name] = {
            "accuracy": float((predicted[:, k] == truth[:, k]).mean()),
            "ap": average_precision(scores[:, k], truth[:, k]),
            "positives": int(truth[:, k].sum()),
        }
    aps = [v["ap"] for v in per_class.values() if not math.isnan(v["ap"])]
    return {
        "images": int(len(scores)),
        "accuracy": float((predicted == truth).mean()),
        "exact_match": float((predicted == truth).all(axis=1).mean()),
        "mAP": float(np.mean(aps)) if aps else float("nan"),
        "per_class": per_class,
    }


def format_metrics(metrics: dict) -> str:
    lines = [f"held-out images: {metrics['images']}  mean accuracy {metrics['accuracy']:.3f}  "
             f"exact match {metrics['exact_match']:.3f}  mAP {metrics['mAP']:.3f}"]
    for name, m in metrics["per_class"].items():
        lines.append(f"  {name:<16} accuracy {m['accuracy']:.3f}  AP {m['ap']:.3f}  ({m['positives']} positives)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- determinism

@contextlib.contextmanager
def deterministic(seed: int, threads: int = DEFAULT_THREADS) -> Iterator[None]:
    """Seed torch, fix the thread count, force deterministic kernels; restore afterwards."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    old_cudnn = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = old_cudnn


# --------------------------------------------------------------------------- the loop

def fit(
    model: nn.Module,
    batches: Callable[[torch.Generator], Iterator[tuple[torch.Tensor, torch.Tensor]]],
    steps_per_epoch: int,
    epochs: int,
    lr: float,
    seed: int,
    device: torch.device,
    progress: bool = True,
    weight_decay: float = 1e-4,
) -> list[float]:
    """Train with AdamW + one-cycle LR on multi-label BCE; returns the mean loss per epoch.

    ``batches(generator)`` yields (normalised float images, 0/1 float labels) for one
    epoch, drawing every random choice from ``generator``.
    """
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=max(1, epochs * steps_per_epoch), pct_start=0.2)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    # disable=None: the bar only on a terminal (in a log file each update is another line)
    bar = tqdm(total=epochs * steps_per_epoch, unit="batch", disable=None if progress else True, desc="training",
               dynamic_ncols=True, mininterval=0.5, file=sys.stderr)
    try:
        for epoch in range(epochs):
            total, count = 0.0, 0
            for images, labels in batches(gen):
                images, labels = images.to(device), labels.to(device)
                loss = nn.functional.binary_cross_entropy_with_logits(model(images), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if schedule.last_epoch + 1 < schedule.total_steps:
                    schedule.step()
                total, count = total + loss.item() * len(images), count + len(images)
                bar.update(1)
                bar.set_postfix(epoch=f"{epoch + 1}/{epochs}", loss=f"{total / count:.3f}")
            losses.append(total / max(1, count))
    finally:
        bar.close()
    return losses


@torch.no_grad()
def predict(model: nn.Module, images: Iterator[torch.Tensor], device: torch.device) -> torch.Tensor:
    model.to(device).eval()
    return torch.cat([model(x.to(device)).cpu() for x in images])


def _tensor_batches(pixels: torch.Tensor, labels: torch.Tensor, preprocess: Preprocess, batch: int,
                    flip: bool = True):
    """Shuffled batches from in-memory uint8 crops, with random horizontal flips."""

    def epoch(gen: torch.Generator):
        order = torch.randperm(len(pixels), generator=gen)
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            x = pixels[idx]
            if flip:
                flips = torch.rand(len(idx), generator=gen) < 0.5
                x[flips] = x[flips].flip(-1)
            yield preprocess.normalize(x), labels[idx]

    return epoch


# --------------------------------------------------------------------------- the demo

def demo_tensors(split: str, n: int, seed: int, preprocess: Preprocess,
                 size: int = DEMO_IMAGE_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` demo scenes of ``split`` as uint8 model crops and multi-hot labels."""
    pixels = torch.empty(n, 3, preprocess.crop, preprocess.crop, dtype=torch.uint8)
    labels = torch.zeros(n, len(DEMO_CLASSES))
    chunk = 256
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        scenes = [make_scene(seed, i, size, split) for i in range(start, stop)]
        raw = torch.from_numpy(np.stack([s.image for s in scenes])).permute(0, 3, 1, 2)
        pixels[start:stop] = preprocess.display(raw)
        for row, scene in enumerate(scenes, start=start):
            labels[row, list(scene.classes)] = 1
    return pixels, labels


def train_demo_model(out_path: str | Path, seed: int = 0, epochs: int | None = None, *,
                     n_train: int = DEMO_TRAIN_IMAGES, n_test: int = DEMO_TEST_IMAGES,
                     input_size: int = DEMO_INPUT_SIZE, threads: int = DEFAULT_THREADS,
                     progress: bool = True) -> dict:
    """Train the demo CNN on the demo scenes' ``train`` split, save it, return held-out metrics.

    The scenes come from the split streams seeded by ``seed`` (see demo_data); the
    metrics are on the ``test`` split, never seen in training.
    """
    epochs = DEMO_EPOCHS if epochs is None else epochs
    if epochs < 1 or n_train < 1 or n_test < 1:
        raise CamStudyError(f"demo training needs epochs, n_train, n_test >= 1; got {epochs}, {n_train}, {n_test}")
    started = time.perf_counter()
    preprocess = demo_preprocess(input_size)
    with deterministic(seed, threads):
        train_x, train_y = demo_tensors("train", n_train, seed, preprocess)
        test_x, test_y = demo_tensors("test", n_test, seed, preprocess)
        model = zero_head(build_demo_cnn(num_classes=len(DEMO_CLASSES), input_size=input_size))
        steps = math.ceil(n_train / DEMO_BATCH)
        losses = fit(model, _tensor_batches(train_x, train_y, preprocess, DEMO_BATCH), steps, epochs,
                     DEMO_LR, seed, torch.device("cpu"), progress)
        logits = predict(model, (preprocess.normalize(test_x[i:i + 256]) for i in range(0, n_test, 256)),
                         torch.device("cpu"))
    metrics = multilabel_metrics(logits, test_y, DEMO_CLASSES)
    metrics.update(train_images=n_train, epochs=epochs, final_loss=losses[-1],
                   seconds=round(time.perf_counter() - started, 1))
    save_checkpoint(out_path, model, arch="demo_cnn", head="flatten", class_names=DEMO_CLASSES,
                    input_size=input_size, preprocess=preprocess, seed=seed, metrics=metrics,
                    demo_version=DEMO_VERSION)
    return metrics


def save_checkpoint(out_path: str | Path, model: nn.Module, *, arch: str, head: str,
                    class_names: Sequence[str], input_size: int, preprocess: Preprocess, seed: int,
                    metrics: dict, **extra) -> Path:
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    checkpoint = {
        "state_dict": state,
        "arch": arch,
        "head": head,
        "num_classes": len(class_names),
        "input_size": input_size,
        "class_names": list(class_names),
        "preprocess": preprocess.to_dict(),
        # Trained with one sigmoid per class (multi-label BCE): probabilities are sigmoids.
        "multilabel": True,
        "probability": "sigmoid",
        "seed": seed,
        "metrics": metrics,
        **extra,
    }
    tmp = out.with_name(out.name + ".partial")
    torch.save(checkpoint, tmp)
    os.replace(tmp, out)  # never leave a half-written checkpoint under the real name
    return out


def demo_model_usable(path: str | Path) -> bool:
    """Whether a saved demo model still fits the current demo CNN and scenes (else train again)."""
    try:  # same parameter shapes are not enough: an older demo was trained on other scenes
        if torch.load(path, map_location="cpu", weights_only=True).get("demo_version") != DEMO_VERSION:
            return False
    except Exception:  # noqa: BLE001 - unreadable: train again
        return False
    meta = checkpoint_metadata(Path(path))
    try:
        load_model("demo_cnn", weights=path, num_classes=meta.get("num_classes"),
                   input_size=meta.get("input_size", 128))
    except (ModelLoadError, ValueError):
        return False
    return True


# --------------------------------------------------------------------------- your own data

def finetune(source: ImageSource, arch: str, out_path: str | Path, *, weights: str | None = None,
             head: str = "gap", preprocess: Preprocess = Preprocess(), epochs: int = 5, lr: float = 1e-3,
             batch_size: int = 16, seed: int = 0, val_fraction: float = 0.1, device: str = "auto",
             threads: int = DEFAULT_THREADS, progress: bool = True) -> dict:
    """Fine-tune a torchvision ``arch`` on ``source`` (multi-label BCE, random flips), save, return metrics.

    ``val_fraction`` of the images (chosen from ``seed``) are held out for the metrics.
    Images that fail to load are skipped and counted in ``metrics["skipped"]``.
    """
    started = time.perf_counter()
    if not source.records:
        raise CamStudyError("no labelled images to train on" + _skipped_hint(source))
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    order = np.random.default_rng(seed).permutation(len(source.records))
    n_val = int(round(len(order) * val_fraction)) if len(order) >= 10 else 0
    val = [source.records[i] for i in order[:n_val]]
    train = [source.records[i] for i in order[n_val:]]
    n_classes = len(source.class_names)
    failed: dict[str, str] = {}
    with deterministic(seed, threads):
        model = load_model(arch, weights=weights, num_classes=n_classes, head=head, input_size=preprocess.crop)
        batches = _source_batches(source, train, preprocess, batch_size, n_classes, failed, flip=True)
        losses = fit(model, batches, math.ceil(len(train) / batch_size), epochs, lr, seed, dev, progress)
        eval_records = val or train
        pairs = list(_source_batches(source, eval_records, preprocess, 64, n_classes, failed,
                                     flip=False, shuffle=False)(None))
        logits = predict(model, (x for x, _ in pairs), dev)
    labels = torch.cat([y for _, y in pairs]) if pairs else torch.zeros(0, n_classes)
    metrics = multilabel_metrics(logits, labels, source.class_names)
    metrics.update(held_out=bool(val), train_images=len(train), epochs=epochs, final_loss=losses[-1],
                   skipped=len(failed) + len(source.skipped), seconds=round(time.perf_counter() - started, 1))
    for where, why in list(failed.items())[:10]:
        print(f"skipped {where}: {why}", file=sys.stderr)
    model.to("cpu")
    save_checkpoint(out_path, model, arch=arch, head=head, class_names=source.class_names,
                    input_size=preprocess.crop, preprocess=preprocess, seed=seed, metrics=metrics)
    return metrics


def _source_batches(source: ImageSource, records: list[ImageRecord], preprocess: Preprocess, batch: int,
                    n_classes: int, failed: dict[str, str], flip: bool, shuffle: bool = True):
    """Batches loaded from ``source`` on the fly; unreadable images are skipped into ``failed``."""

    def epoch(gen: torch.Generator | None):
        order = torch.randperm(len(records), generator=gen).tolist() if shuffle else range(len(records))
        images, labels = [], []
        for i in order:
            record = records[i]
            if record.image_id in failed:
                continue
            try:
                pixels = preprocess.display(source.load(record))
            except ImageLoadError as exc:
                failed[record.image_id] = str(exc)
                continue
            if flip and torch.rand(1, generator=gen).item() < 0.5:
                pixels = pixels.flip(-1)
            target = torch.zeros(n_classes)
            target[list(record.classes)] = 1
            images.append(pixels)
            labels.append(target)
            if len(images) == batch:
                yield preprocess.normalize(torch.stack(images)), torch.stack(labels)
                images, labels = [], []
        if len(images) > (1 if flip else 0):  # training: BatchNorm cannot use a batch of one
            yield preprocess.normalize(torch.stack(images)), torch.stack(labels)

    return epoch


def _skipped_hint(source: ImageSource) -> str:
    if not source.skipped:
        return ""
    where, why = source.skipped[0]
    return f"; {len(source.skipped)} rows were skipped, e.g. {where}: {why}"

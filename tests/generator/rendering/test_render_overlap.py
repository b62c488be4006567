"""The overlapped generator (the model on the main thread; drawing, encoding, hashing and
writing in worker threads) writes the same study, byte for byte, as the serial path; the
stage keeps its bound and its order under uneven work; an error in a worker stops
`generate` with that error instead of leaving a study with files missing."""
from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from generator import generate
from generator.rendering.stage import WORKERS_ENV, OrderedStage, worker_count
from generator.rendering.writers import _without_run_facts
from tests.generator.helpers import demo_study_toml

# batches of 3, two classes per image (an image's original is claimed by one batch and
# reused by later ones), void pairs dropped and replaced: every path the stage reorders
CONFIG = demo_study_toml("overlap", images=30, size=64).replace("batch_size = 8", "batch_size = 3") + """[pairs]
classes = "top_k"
top_k = 2
n = 24
seed = 5
attention_checks = 2
min_map_difference = 0.25
[output]
dir = "out"
"""


def render_study(folder: Path, workers: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.toml").write_text(CONFIG)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(WORKERS_ENV, str(workers))
        torch.manual_seed(0)
        generate(folder / "study.toml")
    return folder / "out"


@pytest.fixture(scope="module")
def serial_and_overlapped(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("overlap")
    return render_study(tmp / "serial", 0), render_study(tmp / "overlapped", 3)


def test_overlapped_study_is_byte_identical_to_the_serial_one(serial_and_overlapped):
    serial, overlapped = serial_and_overlapped
    files = sorted(p.relative_to(serial) for p in serial.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(overlapped) for p in overlapped.rglob("*") if p.is_file())
    manifest = json.loads((serial / "manifest.json").read_text())
    assert manifest["void_pairs"] and len({p["image_id"] for p in manifest["pairs"]}) < len(manifest["pairs"])
    for name in files:
        if name.name in ("manifest.json", "raw_maps.npz"):  # a time stamp inside each
            continue
        assert (serial / name).read_bytes() == (overlapped / name).read_bytes(), name
    again = json.loads((overlapped / "manifest.json").read_text())
    assert _without_run_facts(again) == _without_run_facts(manifest)
    assert again["summary"]["files_written"] == manifest["summary"]["files_written"]
    with np.load(serial / "raw_maps.npz") as a, np.load(overlapped / "raw_maps.npz") as b:
        assert a.files == b.files and all((a[k] == b[k]).all() for k in a.files)


def test_an_error_in_a_render_worker_stops_generate(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stimuli").write_text("a file where the stimuli folder goes")
    with pytest.raises(OSError):
        render_study(tmp_path, 2)


def test_stage_keeps_order_and_bound_under_uneven_work():
    rng = random.Random(0)
    delays = [rng.uniform(0, 0.01) for _ in range(40)]
    running, most, lock = [0], [0], threading.Lock()

    def work(i):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(delays[i])
        with lock:
            running[0] -= 1
        return i

    with OrderedStage(3, depth=4) as stage:
        for i in range(40):
            stage.submit(work, i)
            assert len(stage.pending) <= 4
        assert stage.drain() == list(range(40))
    assert 1 < most[0] <= 3


def test_stage_raises_a_workers_error_in_the_caller():
    def fail(i):
        if i == 2:
            raise ValueError("batch 2 broke")
        return i

    with pytest.raises(ValueError, match="batch 2 broke"), OrderedStage(2) as stage:
        for i in range(6):
            stage.submit(fail, i)
        stage.drain()


def test_worker_count_reads_the_environment_and_refuses_nonsense(monkeypatch):
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert worker_count() == 1 and worker_count(0) == 0 and worker_count(default=0) == 0
    monkeypatch.setenv(WORKERS_ENV, "4")
    assert worker_count() == 4
    monkeypatch.setenv(WORKERS_ENV, "many")
    with pytest.raises(ValueError, match=WORKERS_ENV):
        worker_count()

"""Many simulated participants at once (``simulate``): a thread pool of
``crowdsim.client`` participants against one survey URL, and the run's summary
(answers, latency percentiles, retries, errors)."""
from __future__ import annotations

import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from crowdsim.behaviour import ResponseModel, StudyView
from crowdsim.client import ClientOptions, ParticipantResult, SimulatedParticipant, Timings
from webapp import SIM_PREFIX


@dataclass
class SimulationResult:
    participants: list[ParticipantResult]
    timings: Timings
    seconds: float
    run_id: str

    @property
    def answers(self) -> int:
        return sum(len(p.acks) for p in self.participants)

    @property
    def errors(self) -> list[str]:
        return [f"{p.participant_id}: {p.error}" for p in self.participants if p.error]

    def summary(self) -> dict[str, Any]:
        t = self.timings

        def ms(kind: str, q: float) -> float | None:
            v = t.percentile(kind, q)
            return None if v is None else round(v * 1000, 1)

        return {
            "run_id": self.run_id,
            "participants": len(self.participants),
            "completed": sum(p.completed for p in self.participants),
            "study_full": sum(p.full for p in self.participants),
            "answers_acknowledged": self.answers,
            "seconds": round(self.seconds, 2),
            "answers_per_s": round(self.answers / self.seconds, 1) if self.seconds else None,
            "answer_post_ms": {f"p{q}": ms("answer", q) for q in (50, 95, 99)},
            "page_ms": {f"p{q}": ms("page", q) for q in (50, 95, 99)},
            "image_ms": {f"p{q}": ms("image", q) for q in (50, 95, 99)},
            "requests": {k: len(v) for k, v in t.samples.items()},
            "retries": sum(p.retries for p in self.participants),
            "status_5xx": sum(p.status_5xx for p in self.participants),
            "errors": self.errors[:20],
            "error_count": len(self.errors),
        }


def simulate(url: str, participants: int, model: ResponseModel | None = None,
             manifest: dict[str, Any] | None = None, concurrency: int = 10,
             opts: ClientOptions | None = None, max_seconds: float = 600.0,
             run_id: str | None = None, seed: int = 0, progress: bool = False) -> SimulationResult:
    """Run ``participants`` simulated participants, ``concurrency`` at a time
    (``progress``: a progress bar with the rate on stderr, when it is a terminal)."""
    if participants < 0 or concurrency < 1:
        raise ValueError("participants must be >= 0 and concurrency >= 1")
    model, opts = model or ResponseModel(), opts or ClientOptions()
    run_id = run_id or secrets.token_hex(3)
    view, timings = StudyView(manifest), Timings()
    started = time.monotonic()
    deadline = started + max_seconds

    def one(i: int) -> ParticipantResult:
        pid = f"{SIM_PREFIX}{run_id}-{i:05d}"
        return SimulatedParticipant(url, pid, model, view, timings, opts, seed * 1_000_003 + i, deadline).run()

    results: list[ParticipantResult | None] = [None] * participants
    bar = tqdm(total=participants, unit="participant", desc="simulated participants", disable=None if progress else True,
               dynamic_ncols=True, file=sys.stderr)
    answers = failed = 0
    with bar, ThreadPoolExecutor(max_workers=min(concurrency, max(1, participants)), thread_name_prefix="sim") as pool:
        futures = {pool.submit(one, i): i for i in range(participants)}
        for future in as_completed(futures):
            result = results[futures[future]] = future.result()
            answers, failed = answers + len(result.acks), failed + bool(result.error)
            bar.set_postfix(answers=answers, failed=failed, refresh=False)
            bar.update()
    return SimulationResult(results, timings, time.monotonic() - started, run_id)

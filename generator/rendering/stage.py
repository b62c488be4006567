"""An ordered background stage: work handed off in order, done in worker threads, results
taken back in the same order.

`camstudy generate` hands each batch's drawing, encoding, hashing and writing to such a
stage while the main thread runs the model on the next batch: torch's kernels, zlib,
hashlib and file writes release the GIL, so the two overlap. The stage is bounded (at most
``depth`` batches waiting or running, which also bounds memory), and an error in a worker
is raised in the caller at its next ``submit`` or ``drain``. With 0 workers everything runs
inline, in the caller's thread: the serial reference the overlapped path must match byte
for byte.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

WORKERS_ENV = "CAMSTUDY_RENDER_WORKERS"


def worker_count(requested: int | None = None, default: int = 1) -> int:
    """``requested``, else $CAMSTUDY_RENDER_WORKERS, else ``default``; 0 means serial."""
    if requested is None:
        text = os.environ.get(WORKERS_ENV, "").strip()
        if not text:
            return default
        try:
            requested = int(text)
        except ValueError:
            raise ValueError(f"${WORKERS_ENV} = {text!r}; expected a whole number of threads (0 = serial)") from None
    if not 0 <= requested <= 64:
        raise ValueError(f"render workers = {requested}; expected 0 (serial) to 64")
    return requested


class OrderedStage:
    """``submit(fn, *args)`` in order; ``drain()`` returns every result in submission order."""

    def __init__(self, workers: int, depth: int | None = None) -> None:
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="camstudy-stage") if workers else None
        self.depth = depth or workers + 1
        self.pending: deque[Future] = deque()
        self.results: list[Any] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if self.pool is None:
            self.results.append(fn(*args))
            return
        while len(self.pending) >= self.depth:  # bounded: wait for the oldest
            self.results.append(self.pending.popleft().result())
        self.pending.append(self.pool.submit(fn, *args))

    def drain(self) -> list[Any]:
        while self.pending:
            self.results.append(self.pending.popleft().result())
        return self.results

    def close(self) -> None:
        """Cancel what has not started, wait for what has (nothing is left half-written)."""
        if self.pool is not None:
            for future in self.pending:
                future.cancel()
            self.pool.shutdown(wait=True)

    def __enter__(self) -> "OrderedStage":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

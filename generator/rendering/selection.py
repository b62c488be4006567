"""Which image-class pairs to explain, in what order, and on which side each method goes.

All draws come from numpy Generators seeded from the config, so a study can be
regenerated and audited.
"""
from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from generator.inputs.images import ImageRecord


@dataclass(frozen=True)
class Job:
    """One image-class pair to explain."""

    record: ImageRecord
    class_index: int


def ground_truth_jobs(records: Sequence[ImageRecord]) -> list[Job]:
    return [Job(r, c) for r in records for c in sorted(set(r.classes))]


def list_jobs(records: Sequence[ImageRecord], class_indexes: Sequence[int]) -> list[Job]:
    return [Job(r, c) for r in records for c in class_indexes]


def stratified_order(jobs: Sequence[Job], seed: int) -> Iterator[Job]:
    """Jobs in sampling order: classes taken in turn (round robin), shuffled within class.

    Taking the first N gives a sample of N stratified by class (equal numbers per class
    while each class has candidates left). Consumers may skip a job whose image fails
    to load and simply take the next one, so the stratification survives bad images.
    """
    rng = np.random.default_rng([seed, 1])
    by_class: dict[int, list[Job]] = defaultdict(list)
    for job in jobs:
        by_class[job.class_index].append(job)
    queues = []
    for cls in sorted(by_class):
        items = by_class[cls]
        queues.append([items[i] for i in rng.permutation(len(items))])
    order = [queues[i] for i in rng.permutation(len(queues))]
    depth = max((len(q) for q in order), default=0)
    for level in range(depth):
        for queue in order:
            if level < len(queue):
                yield queue[level]


def assign_first_side(class_indexes: Sequence[int], seed: int) -> list[bool]:
    """For each pair, whether the FIRST method goes on side A.

    Pairs are grouped by class (classes in random order, pairs in random order within
    a class) and sides alternate along that sequence from a random start, so exactly
    half (±1) of all pairs, and half (±1) of each class's, have the first method as A.
    """
    rng = np.random.default_rng([seed, 2])
    n = len(class_indexes)
    classes = sorted(set(class_indexes))
    perm = rng.permutation(len(classes))
    class_rank = {c: int(perm[i]) for i, c in enumerate(classes)}
    tiebreak = rng.permutation(n)
    sequence = sorted(range(n), key=lambda i: (class_rank[class_indexes[i]], tiebreak[i]))
    start = bool(rng.integers(2))
    result = [False] * n
    for position, i in enumerate(sequence):
        result[i] = start if position % 2 == 0 else not start
    return result


def opaque_token(secret: int | str, *parts: object, length: int = 20) -> str:
    """A random-looking, reproducible name that reveals nothing of ``parts``.

    A keyed hash (HMAC-SHA256) of the parts with the study's naming seed as key: the
    same config gives the same names, and without the seed the name cannot be traced
    back to a method, class or image.
    """
    message = "\x1f".join(str(p) for p in parts).encode()
    digest = hmac.new(str(secret).encode(), message, hashlib.sha256).digest()
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    value = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        value, r = divmod(value, len(alphabet))
        chars.append(alphabet[r])
    return "".join(chars)

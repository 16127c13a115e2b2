"""``alselect infer --shard I/N``: the rows of shard I of N (0-based), one inference job each.

Shard I holds rows ``I*S .. min((I+1)*S, rows) - 1`` with ``S = ceil(rows / N)``, so the
shards of one dataset, listed in order by ``alselect manifest``, hold every row exactly once.
"""

from __future__ import annotations

import math

from .errors import InferError


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N), with 0 <= I < N."""
    index, sep, count = str(text).partition("/")
    if not sep or not index.strip().isdigit() or not count.strip().isdigit():
        raise InferError(f"--shard expects I/N (shard I of N, 0-based), got {text!r}")
    i, n = int(index), int(count)
    if n < 1 or i >= n:
        raise InferError(f"--shard {text}: I must be in 0..N-1 and N >= 1 (shards are numbered from 0)")
    return i, n


def shard_bounds(rows: int, index: int, count: int) -> tuple[int, int]:
    size = math.ceil(rows / count)
    lo = min(rows, index * size)
    return lo, min(rows, lo + size)


def shard_loader(loader, index: int, count: int):
    """A DataLoader like ``loader`` over the rows of shard ``index`` of ``count``."""
    from torch.utils.data import DataLoader, IterableDataset, Subset

    dataset = loader.dataset
    if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
        raise InferError("--shard needs a dataset with a length (a map-style Dataset); this one is iterable")
    rows = len(dataset)
    lo, hi = shard_bounds(rows, index, count)
    if lo == hi:
        raise InferError(f"--shard {index}/{count} is empty: the data has {rows} samples, "
                         f"{math.ceil(rows / count)} per shard; use fewer shards")
    return DataLoader(Subset(dataset, range(lo, hi)), batch_size=loader.batch_size, shuffle=False,
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory)

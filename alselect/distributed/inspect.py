"""``inspect MANIFEST --dask``: the value checks of every shard, run on the cluster's workers.

The client reads the manifest and opens every shard's metadata (the structure checks of
:class:`~alselect.pool.sharded.ShardedPool`, so a missing or mismatched shard is the same one
``Error:`` line as without ``--dask``); the reads of every row, the value checks and the
predicted-class histogram, run on the workers, one task per shard, in parallel. The report is
the sequential one: problems in shard order, each prefixed by its shard, and the histogram
summed over the shards.
"""

from __future__ import annotations

import numpy as np

from ..errors import AlselectError, PoolFormatError, PoolValueError


def shard_values(path: str):
    """On a worker: one shard's value problems and predicted-class histogram (None when it
    cannot be computed), exactly as :meth:`Pool.problems` and ``predicted_histogram`` give them."""
    from ..inspect import predicted_histogram
    from ..pool.reader import Pool

    with Pool(path) as pool:
        problems = pool.problems()
        try:
            hist = predicted_histogram(pool)
        except AlselectError:
            hist = None
        return problems, hist


def values(client, pool, progress=None) -> tuple[list[str], np.ndarray | None]:
    """(problems, predicted-class histogram or None) of a pool, the shards' parts computed on
    ``client``'s workers; the same as the sequential ``pool.problems()`` and histogram."""
    from distributed import as_completed

    from .select import _placement

    ranges = pool.shard_ranges() if hasattr(pool, "shard_ranges") else [(pool.path, 0, pool.n_rows)]
    live = [(i, path) for i, (path, _, rows) in enumerate(ranges) if rows > 0]
    futures = [client.submit(shard_values, path, pure=False, **_placement(client, k))
               for k, (_, path) in enumerate(live)]
    index = {f.key: k for k, f in enumerate(futures)}
    parts = [None] * len(futures)
    for future in as_completed(futures):
        k = index[future.key]
        try:
            parts[k] = future.result()
        except (PoolFormatError, PoolValueError) as exc:  # a shard that opened on the client but not here
            raise PoolFormatError(f"shard {live[k][0]} ('{live[k][1]}') of manifest '{pool.path}': {exc}") from None
        if progress is not None:
            progress(ranges[live[k][0]][2])
    sharded = hasattr(pool, "shard_ranges")
    problems: list[str] = []
    for (_, path), (found, _) in zip(live, parts):
        problems += [f"shard '{path}': {p}" for p in found] if sharded else found
    if sharded and not problems and pool.has("ids"):
        try:
            pool.ids()
        except PoolValueError as exc:
            problems.append(str(exc))
    hists = [h for _, h in parts]
    hist = None if any(h is None for h in hists) else np.sum(hists, axis=0)
    return problems, hist

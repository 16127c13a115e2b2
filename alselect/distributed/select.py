"""The driver side of distributed selection: what runs on the client.

Ranking strategies: each shard returns its best ``budget`` rows with their sort and tie keys;
merging those lists by (key desc, tie key asc) is exactly the single-machine order, because
the tie keys (alselect.rowkeys) depend only on the seed and the global row.

``kcenter``, ``uwe`` (k-center sampler), ``cdal-cs``: the exact greedy sequence by rounds with
per-shard bounds (alselect.distributed.rounds), one driver for every distance.
``kmeanspp``, ``badge``, ``uwe -p sampler=kmeanspp``: D² sampling by the exponential race,
one round trip per pick (alselect.distributed.d2).
"""

from __future__ import annotations

import numpy as np

from ..contract import SEQUENTIAL
from ..errors import SelectionError
from . import tasks

#: strategies with a distributed engine
RANKING_STRATEGIES = ("entropy", "margin", "least-confidence", "bald", "variation-ratio", "dispersion", "score",
                      "random")
SEQUENTIAL_STRATEGIES = ("kcenter", "kmeanspp", "badge", "uwe", "cdal-cs")
#: strategies that run on one machine only, and how large a pool that machine handles
ONE_MACHINE = {
    "balanced": "its exact solve (LP column generation and MIP) holds the informativeness and the N x C "
                "probabilities in float64 on one machine, 8*N*(C+2) bytes (10^7 rows x 10 classes: about 1 GB; "
                "certified solves measured up to 50,000 rows x 100 classes)",
    "balanced-kcenter": "its greedy holds the embeddings and the N x C probabilities on one machine (10^7 rows x 256 "
                        "float16 + 10 classes: about 5.5 GB)",
}
#: candidates per shard and round: enough for several confirmed picks, few enough to stay light
MIN_CANDIDATES = 16
MAX_CANDIDATES = 2048


class Stats:
    """What a distributed run cost: rounds (client-cluster round trips) and candidate rows moved."""

    def __init__(self):
        self.rounds = 0
        self.candidates = 0
        self.bytes_to_client = 0
        self.bytes_to_workers = 0  # center vectors broadcast (one copy per shard)

    def as_dict(self) -> dict:
        return {"rounds": self.rounds, "candidates": self.candidates, "bytes_to_client": self.bytes_to_client,
                "bytes_to_workers": self.bytes_to_workers}


#: statistics of the last distributed run in this process (benches read it)
LAST = Stats()


def _shards(pool) -> list[tuple[str, int, int]]:
    ranges = pool.shard_ranges() if hasattr(pool, "shard_ranges") else [(pool.path, 0, pool.n_rows)]
    return [(path, start, rows) for path, start, rows in ranges if rows > 0]


def _local(labeled: np.ndarray, start: int, rows: int) -> np.ndarray:
    lo, hi = np.searchsorted(labeled, [start, start + rows])
    return (labeled[lo:hi] - start).astype(np.int64)


def _workers(client) -> list[str]:
    return sorted(client.scheduler_info().get("workers", {}))


def _placement(client, i: int):
    """Spread shards over the workers (round robin); any worker may take over a lost one."""
    workers = _workers(client)
    return {"workers": [workers[i % len(workers)]], "allow_other_workers": True} if workers else {}


def check_supported(strategy: str, params: dict | None = None) -> None:
    """Raise the one-line error for a strategy (or parameter) without a distributed engine."""
    from ..strategies import get_strategy

    spec = get_strategy(strategy)
    if spec.name in RANKING_STRATEGIES:
        if (params or {}).get("aggregate", "image") != "image":
            raise SelectionError(f"--dask runs '{spec.name}' with -p aggregate=image only; drop -p aggregate "
                                 "or run on one machine")
        return
    if spec.name == "uwe" and (params or {}).get("level", "image") != "image":
        raise SelectionError("--dask runs 'uwe' with -p level=image only; drop -p level or run on one machine")
    if spec.name in SEQUENTIAL_STRATEGIES:
        return
    if spec.name in ONE_MACHINE:
        raise SelectionError(f"--dask has no distributed engine for '{spec.name}': {ONE_MACHINE[spec.name]}; drop "
                             "--dask to run it on one machine (a manifest's shards are then read in sequence)")
    supported = ", ".join(RANKING_STRATEGIES + SEQUENTIAL_STRATEGIES)
    kind = "sequential " if spec.order == SEQUENTIAL else ""
    raise SelectionError(f"--dask has no distributed engine for the {kind}strategy '{spec.name}' yet; it runs: "
                         f"{supported} (drop --dask to run '{spec.name}' on one machine)")


def select_distributed(client, ctx, spec, params: dict, count: int):
    """Run ``spec`` on ``client``; returns (indices, scores) equal to the single-machine ones."""
    check_supported(spec.name, params)
    if spec.name in RANKING_STRATEGIES:
        return _ranking(client, ctx, spec, params, count)
    if spec.name in ("kmeanspp", "badge") or (spec.name == "uwe" and params["sampler"] == "kmeanspp"):
        from .d2 import d2_select

        return d2_select(client, ctx, spec, params, count)
    return _kcenter(client, ctx, spec, params, count)


def _ranking(client, ctx, spec, params, count):
    global LAST
    LAST = stats = Stats()
    futures = [client.submit(tasks.shard_top, path, start, spec.name, params, ctx.seed,
                             _local(ctx.labeled, start, rows), count, pure=False, **_placement(client, i))
               for i, (path, start, rows) in enumerate(_shards(ctx.pool))]
    parts = client.gather(futures)
    stats.rounds = 1
    rows = np.concatenate([p[0] for p in parts])
    key = np.concatenate([p[1] for p in parts])
    tie = np.concatenate([p[2] for p in parts])
    scores = np.concatenate([p[3] for p in parts])
    stats.candidates = int(rows.size)
    stats.bytes_to_client = int(rows.nbytes + key.nbytes + tie.nbytes + scores.nbytes)
    order = np.lexsort((tie, -key))[:count]
    return rows[order], scores[order]


def _kcenter(client, ctx, spec, params, count):
    """Exact distributed K-Center-Greedy (``kcenter``, ``uwe``'s k-center sampler, ``cdal-cs``)."""
    from .rounds import EuclidSpace, greedy_rounds

    global LAST
    LAST = stats = Stats()
    if spec.name == "cdal-cs":
        from .cdal import cdal_select

        return cdal_select(client, ctx, params, count, stats, MIN_CANDIDATES, MAX_CANDIDATES)
    if spec.name == "uwe":
        from .d2 import uwe_bounds

        uwe = (params["uncertainty"], params["tau"], params["normalize"], uwe_bounds(client, ctx, params, stats))
        space = EuclidSpace("embeddings", "max-norm", uwe)
    else:
        space = EuclidSpace(params["features"], params["init"])
    return greedy_rounds(client, ctx, space, count, stats, MIN_CANDIDATES, MAX_CANDIDATES)

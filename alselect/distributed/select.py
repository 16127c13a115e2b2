"""The driver side of distributed selection: what runs on the client.

Ranking strategies: each shard returns its best ``budget`` rows with their sort and tie keys;
merging those lists by (key desc, tie key asc) is exactly the single-machine order, because
the tie keys (alselect.rowkeys) depend only on the seed and the global row.

``kcenter``: each worker keeps its shard's exact running minima ``D64``; per round every shard
sends its top ``m`` pickable rows (with their vectors) and the (D, row) of its (m+1)-th as a
bound for everything unsent (minima only fall as centers are added). The driver then confirms
picks greedily among the candidates while the best beats every shard's bound, folding each
confirmed pick into the remaining candidates exactly, and sends the confirmed centers back.
"""

from __future__ import annotations

import math

import numpy as np

from ..contract import SEQUENTIAL
from ..errors import SelectionError
from . import tasks

#: strategies with a distributed engine
RANKING_STRATEGIES = ("entropy", "margin", "least-confidence", "bald", "variation-ratio", "dispersion", "score",
                      "random")
SEQUENTIAL_STRATEGIES = ("kcenter", "kmeanspp", "badge", "uwe")
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
    return _kcenter(client, ctx, params, count)


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


def _beats(d: float, row: int, bound) -> bool:
    """(d, row) comes before ``bound`` in the greedy order (larger D first, then lower row)."""
    return bound is None or d > bound[0] or (d == bound[0] and row < bound[1])


def _kcenter(client, ctx, params, count):
    """Exact distributed K-Center-Greedy (see the module docstring)."""
    from ..kernels.sharded_kcenter import fold_candidates

    global LAST
    LAST = stats = Stats()
    features, init = params["features"], params["init"]
    shards = _shards(ctx.pool)
    states = [client.submit(tasks.kcenter_build, path, start, features, _local(ctx.labeled, start, rows),
                            pure=False, **_placement(client, i))
              for i, (path, start, rows) in enumerate(shards)]

    def call(method, *args):
        return client.gather([client.submit(tasks.kcenter_call, st, method, *args, pure=False) for st in states])

    def fold(parts, picked):
        nonlocal states
        states = [client.submit(tasks.kcenter_fold, st, parts, picked, pure=False) for st in states]

    picks: list[int] = []
    dists: list[float] = []
    if ctx.labeled.size:  # labeled rows are the initial centers; their vectors go worker to worker
        fold([client.submit(tasks.kcenter_call, st, "labeled_vectors", pure=False) for st in states],
             np.empty(0, np.int64))
    else:
        firsts = call("first_candidates")
        stats.rounds += 1
        if init == "random":
            from ..diversity import _seeded_uniforms

            total = sum(f[0] for f in firsts)
            index = min(int(np.floor(_seeded_uniforms(ctx.seed, 1)[0] * total)), total - 1)
            for (n_pick, _, _), st in zip(firsts, states):
                if index < n_pick:
                    first = client.submit(tasks.kcenter_call, st, "nth_pickable", index, pure=False).result()
                    break
                index -= n_pick
        else:  # the largest norm, ties to the lowest row
            best = max((f for f in firsts if f[0] > 0), key=lambda f: (f[1], -f[2]))
            first = best[2]
        owner = next(i for i, (_, start, rows) in enumerate(shards) if start <= first < start + rows)
        vec = client.submit(tasks.kcenter_call, states[owner], "vectors", [first], pure=False)
        picks.append(int(first))
        dists.append(np.inf)
        fold([vec], np.array([first], dtype=np.int64))
    while len(picks) < count:
        left = count - len(picks)
        m = int(min(MAX_CANDIDATES, max(MIN_CANDIDATES, math.ceil(2 * left / len(shards)))))
        tops = call("top", m)
        stats.rounds += 1
        rows = np.concatenate([t[0] for t in tops])
        if rows.size == 0:
            break
        D = np.concatenate([t[1] for t in tops])
        X = np.ascontiguousarray(np.concatenate([t[2] for t in tops]).astype(np.float32))
        xs = np.concatenate([t[3] for t in tops])
        xn = np.concatenate([t[4] for t in tops])
        bounds = [t[5] for t in tops if t[5] is not None]
        stats.candidates += int(rows.size)
        stats.bytes_to_client += int(rows.nbytes + D.nbytes + X.nbytes + xs.nbytes)
        alive = np.ones(rows.size, dtype=bool)
        new: list[int] = []
        while len(picks) < count and alive.any():
            idx = np.flatnonzero(alive)
            best = idx[np.lexsort((rows[idx], -D[idx]))[0]]
            if not all(_beats(D[best], rows[best], b) for b in bounds):
                break
            picks.append(int(rows[best]))
            dists.append(float(D[best]))
            new.append(best)
            alive[best] = False
            rest = np.flatnonzero(alive)
            if rest.size:
                Dr = D[rest].copy()
                fold_candidates(X[rest], xs[rest], Dr, X[best:best + 1], xs[best:best + 1])
                D[rest] = Dr
        sel = np.array(new, dtype=np.int64)
        if len(picks) < count:
            fold([(X[sel], xs[sel], xn[sel])], rows[sel])
            stats.bytes_to_workers += len(shards) * int(X[sel].nbytes + xs[sel].nbytes + xn[sel].nbytes + sel.nbytes)
    picked = np.asarray(picks, dtype=np.int64)
    return picked, np.sqrt(np.maximum(np.asarray(dists, dtype=np.float64), 0.0))

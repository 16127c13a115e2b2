"""The exact distributed K-Center-Greedy driver, for any distance (``kcenter``, ``uwe``,
``cdal-cs``).

Each worker keeps its shard's exact running minima ``D`` (a shard state of
``alselect.distributed.tasks``, ``.cdal``); per round every shard sends its top ``m``
pickable rows (with what the client needs to fold centers into them) and the (D, row) of
its (m+1)-th as a bound for everything unsent (minima only fall as centers are added). The
client confirms picks greedily among the candidates while the best beats every shard's bound,
folding each confirmed pick into the remaining candidates exactly, and sends the confirmed
centers back. A :class:`Space` says how one distance is read, moved and folded.
"""

from __future__ import annotations

import math

import numpy as np

from . import tasks


class Space:
    """One distance's side of the driver. ``build`` runs on a worker and returns a shard state
    with the methods of ``tasks.KCenterShard``; the rest runs on the client."""

    #: module-level function (path, start, labeled_local, *build_args) -> shard state
    build = None
    build_args: tuple = ()

    def merge(self, payloads: list):
        """One candidate payload from the shards' payloads (in order)."""
        raise NotImplementedError

    def take(self, payload, idx: np.ndarray):
        """The payload of some candidates (what a shard needs to fold them as centers)."""
        raise NotImplementedError

    def fold(self, payload, D: np.ndarray, rest: np.ndarray, best: int) -> None:
        """Fold candidate ``best`` as a center into ``D[rest]`` (the candidates' exact minima)."""
        raise NotImplementedError

    def nbytes(self, payload) -> int:
        return int(sum(np.asarray(a).nbytes for a in payload))

    def scores(self, D: np.ndarray) -> np.ndarray:
        return D

    def forced_first(self, ctx):
        """A first pick made whatever is labeled (None: the greedy rule)."""
        return None

    def first(self, ctx, firsts, nth):
        """The first pick when nothing is labeled, from every shard's ``first_candidates()``
        (pickable rows, key, lowest row of the largest key); ``nth(i)`` is the i-th pickable row."""
        best = max((f for f in firsts if f[0] > 0), key=lambda f: (f[1], -f[2]))
        return best[2]


def _beats(d: float, row: int, bound) -> bool:
    """(d, row) comes before ``bound`` in the greedy order (larger D first, then lower row)."""
    return bound is None or d > bound[0] or (d == bound[0] and row < bound[1])


def greedy_rounds(client, ctx, space: Space, count: int, stats, min_candidates: int, max_candidates: int):
    """The exact greedy sequence: (picks, scores) equal to the single-machine ones."""
    from .select import _local, _placement, _shards

    shards = _shards(ctx.pool)
    states = [client.submit(space.build, path, start, _local(ctx.labeled, start, rows), *space.build_args,
                            pure=False, **_placement(client, i))
              for i, (path, start, rows) in enumerate(shards)]

    def call(method, *args):
        return client.gather([client.submit(tasks.kcenter_call, st, method, *args, pure=False) for st in states])

    def fold(parts, picked):
        nonlocal states
        states = [client.submit(tasks.kcenter_fold, st, parts, picked, pure=False) for st in states]

    def owner(row):
        return next(i for i, (_, start, rows) in enumerate(shards) if start <= row < start + rows)

    picks: list[int] = []
    dists: list[float] = []
    if ctx.labeled.size:  # labeled rows are the initial centers; their vectors go worker to worker
        fold([client.submit(tasks.kcenter_call, st, "labeled_vectors", pure=False) for st in states],
             np.empty(0, np.int64))
    first = space.forced_first(ctx)
    dist = np.inf
    if first is not None and ctx.labeled.size:
        dist = client.submit(tasks.kcenter_call, states[owner(first)], "distance", first, pure=False).result()
        stats.rounds += 1
    elif first is None and not ctx.labeled.size:
        firsts = call("first_candidates")
        stats.rounds += 1

        def nth(index):
            for (n_pick, _, _), st in zip(firsts, states):
                if index < n_pick:
                    return client.submit(tasks.kcenter_call, st, "nth_pickable", index, pure=False).result()
                index -= n_pick

        first = space.first(ctx, firsts, nth)
    if first is not None:
        vec = client.submit(tasks.kcenter_call, states[owner(first)], "vectors", [first], pure=False)
        picks.append(int(first))
        dists.append(float(dist))
        fold([vec], np.array([first], dtype=np.int64))
    while len(picks) < count:
        left = count - len(picks)
        m = int(min(max_candidates, max(min_candidates, math.ceil(2 * left / len(shards)))))
        tops = call("top", m)
        stats.rounds += 1
        rows = np.concatenate([t[0] for t in tops])
        if rows.size == 0:
            break
        D = np.concatenate([t[1] for t in tops])
        P = space.merge([t[2] for t in tops])
        bounds = [t[3] for t in tops if t[3] is not None]
        stats.candidates += int(rows.size)
        stats.bytes_to_client += int(rows.nbytes + D.nbytes) + space.nbytes(P)
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
                space.fold(P, D, rest, best)
        sel = np.array(new, dtype=np.int64)
        if len(picks) < count:
            part = space.take(P, sel)
            fold([part], rows[sel])
            stats.bytes_to_workers += len(shards) * (space.nbytes(part) + int(sel.nbytes))
    return np.asarray(picks, dtype=np.int64), space.scores(np.asarray(dists, dtype=np.float64))


class EuclidSpace(Space):
    """kcenter (and uwe's k-center sampler): payload (X rows, scales, scaled squared norms)."""

    def __init__(self, features: str, init: str, uwe=None):
        self.build = tasks.kcenter_build
        self.build_args = (features, uwe)
        self.init = init

    def merge(self, payloads):
        X = np.ascontiguousarray(np.concatenate([p[0] for p in payloads]))
        return X, np.concatenate([p[1] for p in payloads]), np.concatenate([p[2] for p in payloads])

    def take(self, payload, idx):
        return tuple(a[idx] for a in payload)

    def fold(self, payload, D, rest, best):
        from ..kernels.sharded_kcenter import fold_candidates

        X, xs, _ = payload
        Dr = D[rest].copy()
        fold_candidates(X[rest], xs[rest], Dr, X[best:best + 1], xs[best:best + 1])
        D[rest] = Dr

    def scores(self, D):
        return np.sqrt(np.maximum(D, 0.0))

    def first(self, ctx, firsts, nth):
        if self.init == "random":
            from ..diversity import _seeded_uniforms

            total = sum(f[0] for f in firsts)
            return nth(min(int(np.floor(_seeded_uniforms(ctx.seed, 1)[0] * total)), total - 1))
        return super().first(ctx, firsts, nth)  # the largest norm, ties to the lowest row

"""Distributed D² sampling (``kmeanspp``, ``badge``, ``uwe -p sampler=kmeanspp``).

Each worker keeps its shard's part of the single-machine engine state
(``alselect.kernels.d2sampling``): the exact min-distance ``D2`` of every row, its nearest
center and the pruning groups. Centers from other shards are appended to the shard's arrays
as inactive rows, so the fold is the engine's own ``_add_center`` on the same values and
gives the same ``D2`` bits. Pick ``t`` is the exponential race of ``alselect.kernels.race``:
every shard returns its smallest key with that row's data, the client takes the smallest
(key, row) and sends the winner back as the next center. One round trip per pick, no global
sum; the client holds O(budget + shards) state.
"""

from __future__ import annotations

import numpy as np

from ..rowkeys import race_seed
from .select import Stats, _local, _placement, _shards
from .tasks import on_shard

#: strategies run by this engine (uwe only with -p sampler=kmeanspp)
STRATEGIES = ("kmeanspp", "badge", "uwe")


def uwe_raw(probs, uncertainty: str) -> np.ndarray:
    """u(x) before normalisation and tau, exactly as ``diversity.uwe_weights`` computes it."""
    from ..diversity import uwe_weights

    return uwe_weights(probs, uncertainty=uncertainty, tau=1.0, normalize="none")  # u ** 1.0 is u


def uwe_finish(u: np.ndarray, tau: float, normalize: str, bounds) -> np.ndarray:
    """``diversity.uwe_weights``'s last steps with the pool-wide (min, max) of u."""
    if normalize == "minmax":
        lo, hi = bounds
        u = (u - lo) / (hi - lo) if hi > lo else np.ones_like(u)
    return u ** float(tau)


class D2Shard:
    """One shard's D² state: the engine arrays over its rows plus appended remote centers."""

    def __init__(self, path: str, start: int, strategy: str, params: dict, labeled_local: np.ndarray,
                 capacity: int, uwe_bounds=None):
        from ..diversity import badge_class_table, badge_embedding_factors, d2_rows, d2_state
        from ..pool.reader import Pool
        from ..validation import as_float_matrix, probability_matrix

        with Pool(path) as pool:
            F = as_float_matrix("features", pool.read("embeddings"))
            stored = pool.read("probs") if strategy in ("badge", "uwe") else None
        # badge's factors need the widened matrix; uwe_weights checks the stored array itself
        P = probability_matrix("probs", stored) if strategy == "badge" else None
        N = F.shape[0]
        self.start, self.N = start, N
        self.has_q = strategy == "badge"
        s = np.ones(N)
        if strategy == "uwe":
            s = np.ascontiguousarray(uwe_finish(uwe_raw(stored, params["uncertainty"]), params["tau"],
                                                params["normalize"], uwe_bounds), dtype=np.float64)
        Q = badge_embedding_factors(P) if self.has_q else None
        Q, n, y, psum, fnorm, anorm = d2_rows(F, Q, self.has_q, s, P)
        active = np.ones(N, dtype=bool)
        active[np.asarray(labeled_local, dtype=np.int64)] = False
        self.labeled = np.asarray(labeled_local, dtype=np.int64)
        # row arrays: the shard's N rows, then appended remote centers (inactive)
        self.A, self.Q, self.n, self.s = F, Q, n, s
        self.y, self.psum, self.fnorm, self.anorm = y, psum, fnorm, anorm
        (self.active, self.d2, self.nrm, self.assign, self.centers, self.maxd2, self.skip,
         self.cc2) = d2_state(n, active, capacity)
        self.rows = N  # rows in use (shard + appended)
        self.q = 0
        self.folded: set[int] = set()  # global rows already folded
        self.pmax_cls = badge_class_table(Q, self.has_q, y, active)
        self.evals = 0

    _ROW_FIELDS = ("A", "Q", "n", "s", "y", "psum", "fnorm", "anorm")

    def payload(self, local) -> tuple:
        """What another shard needs to fold these rows as centers: (global rows, then each row
        array of ``_ROW_FIELDS`` at those rows)."""
        local = np.asarray(local, dtype=np.int64).reshape(-1)
        return (self.start + local,) + tuple(getattr(self, f)[local] for f in self._ROW_FIELDS)

    def labeled_payload(self) -> tuple:
        return self.payload(self.labeled)

    def _append(self, data: tuple, k: int) -> int:
        if self.rows == self.A.shape[0]:  # grow the row arrays (doubling the appended part)
            extra = max(16, self.rows - self.N)
            for f in self._ROW_FIELDS + ("nrm", "d2", "assign", "active"):
                a = getattr(self, f)
                pad = np.zeros((extra,) + a.shape[1:], dtype=a.dtype)
                setattr(self, f, np.concatenate([a, pad]))
        r = self.rows
        for f, v in zip(self._ROW_FIELDS, data[1:]):
            getattr(self, f)[r] = v[k]
        self.nrm[r] = np.sqrt(self.n[r])
        self.d2[r], self.assign[r], self.active[r] = 0.0, -1, False
        self.rows += 1
        return r

    def fold(self, payload) -> "D2Shard":
        """Make the payload's rows centers, in order (dropping them from the pickable rows if ours)."""
        from ..kernels.d2sampling import add_center

        for k, g in enumerate(np.asarray(payload[0]).tolist()):
            if g in self.folded:
                continue
            self.folded.add(g)
            if self.start <= g < self.start + self.N:
                c = g - self.start
                self.active[c] = False
                self.d2[c] = 0.0
            else:
                c = self._append(payload, k)
            self.centers[self.q] = c
            ev, _, _ = add_center(self.A, self.Q, self.has_q, self.n, self.nrm, self.s, c, self.q, self.d2,
                                  self.assign, self.active, self.maxd2, self.centers, self.skip, self.cc2, self.y,
                                  self.psum, self.fnorm, self.anorm, self.pmax_cls)
            self.evals += int(ev)
            self.q += 1
        return self

    def race(self, seed_base, t: int, uniform: bool = False):
        """This shard's entry in pick ``t``'s race: (weighted, key, global row, payload).

        ``weighted`` says whether some pickable row has D2 > 0 (then the key is over those
        rows only); ``uniform`` forces the equal-weight race (the first pick of init=random)."""
        from ..kernels.race import has_weight, pick_base, race

        N = self.N
        if not self.active[:N].any():
            return False, np.inf, -1, None
        weighted = not uniform and bool(has_weight(self.d2[:N], self.active[:N]))
        key, row = race(self.d2[:N], self.active[:N], np.uint64(pick_base(seed_base, t)), self.start, weighted)
        return weighted, float(key), int(self.start + row), self.payload([row])

    def max_norm(self):
        """(largest squared norm among pickable rows, its lowest global row, payload) or None."""
        rows = np.flatnonzero(self.active[:self.N])
        if rows.size == 0:
            return None
        i = int(rows[int(np.argmax(self.n[rows]))])
        return float(self.n[i]), int(self.start + i), self.payload([i])


@on_shard
def d2_build(path, start, strategy, params, labeled_local, capacity, uwe_bounds):
    return D2Shard(path, start, strategy, params, labeled_local, capacity, uwe_bounds)


def d2_fold(state: D2Shard, payload):
    return state.fold(payload)


def d2_call(state: D2Shard, method: str, *args):
    return getattr(state, method)(*args)


@on_shard
def uwe_range(path, uncertainty):
    """(min, max) of u(x) over one shard (every row: the single-machine min-max is pool-wide)."""
    from ..pool.reader import Pool

    with Pool(path) as pool:
        if pool.n_rows == 0:
            return None
        u = uwe_raw(pool.read("probs"), uncertainty)  # validated there, with the stored dtype's tolerance
    return float(u.min()), float(u.max())


def uwe_bounds(client, ctx, params: dict, stats):
    """The pool-wide (min, max) of u(x) for -p normalize=minmax (one round trip), else None."""
    if params["normalize"] != "minmax":
        return None
    parts = client.gather([client.submit(uwe_range, path, params["uncertainty"], pure=False, **_placement(client, i))
                           for i, (path, _, _) in enumerate(_shards(ctx.pool))])
    stats.rounds += 1
    parts = [p for p in parts if p is not None]
    return min(p[0] for p in parts), max(p[1] for p in parts)


def _winner(entries):
    """The race's winner over the shards' entries: weighted ones first, smallest (key, row)."""
    live = [e for e in entries if e[2] >= 0]
    weighted = [e for e in live if e[0]]
    pool = weighted or live
    return min(pool, key=lambda e: (e[1], e[2]))


def d2_select(client, ctx, spec, params: dict, count: int):
    """Distributed D² sampling; returns (indices, NaN scores) equal to the single-machine ones."""
    from . import select as dsel

    dsel.LAST = stats = Stats()
    name = spec.name
    shards = _shards(ctx.pool)
    labeled_centers = name != "badge" or params.get("labeled_centers", False)
    n_centers = int(ctx.labeled.size) if labeled_centers else 0
    bounds = uwe_bounds(client, ctx, params, stats) if name == "uwe" else None
    capacity = n_centers + count
    states = [client.submit(d2_build, path, start, name, params, _local(ctx.labeled, start, rows), capacity, bounds,
                            pure=False, **_placement(client, i))
              for i, (path, start, rows) in enumerate(shards)]

    def fold(payload):
        nonlocal states
        states = [client.submit(d2_fold, st, payload, pure=False) for st in states]

    def call(method, *args):
        return client.gather([client.submit(d2_call, st, method, *args, pure=False) for st in states])

    base = race_seed(ctx.seed)
    picks: list[int] = []
    if n_centers:  # labeled rows are the initial centers; their data go worker to worker
        labeled = [client.submit(d2_call, st, "labeled_payload", pure=False) for st in states]
        fold(client.submit(_concat, labeled, pure=False))
        pending = None
    else:
        if name == "kmeanspp" and params.get("init") == "random":
            first = _winner(call("race", base, 0, True))
            payload = first[3]
        else:  # the largest norm, ties to the lowest row
            best = max((m for m in call("max_norm") if m is not None), key=lambda m: (m[0], -m[1]))
            payload = best[2]
        stats.rounds += 1
        picks.append(int(payload[0][0]))
        pending = payload
    while len(picks) < count:
        if pending is not None:
            fold(pending)
            stats.bytes_to_workers += len(shards) * _nbytes(pending)
        entries = call("race", base, len(picks))
        stats.rounds += 1
        stats.candidates += len(entries)
        win = _winner(entries)
        stats.bytes_to_client += sum(_nbytes(e[3]) for e in entries if e[3] is not None)
        picks.append(int(win[2]))
        pending = win[3]
    return np.asarray(picks, dtype=np.int64), np.full(len(picks), np.nan)


def _concat(payloads):
    """One payload of the shards' payloads, in global row order (the engine's order of initial
    centers; the minima do not depend on it, the pruning groups are then the same)."""
    order = np.argsort(np.concatenate([p[0] for p in payloads]), kind="stable")
    return tuple(np.concatenate([p[f] for p in payloads])[order] for f in range(len(payloads[0])))


def _nbytes(payload) -> int:
    return int(sum(np.asarray(v).nbytes for v in payload))

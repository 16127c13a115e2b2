"""Functions that run on the workers: each opens its own shard and returns small results.

Module-level functions of plain arguments, so Dask can pickle them and re-run them on another
worker when one is lost (a shard's k-center state is rebuilt from its file and the centers).
"""

from __future__ import annotations

import numpy as np

import functools

from ..contract import Context, Ranking
from ..errors import SelectionError
from ..pool.sharded import shard_errors
from ..rowkeys import tie_keys

#: entries of the (rows, centers) float32 dot buffer of one k-center fold block (64 MiB)
FOLD_ENTRIES = 1 << 24


def on_shard(fn):
    """A task reading the shard at ``path`` (its first argument; ``start``, its first global row,
    the second when the task takes one): errors name the shard, as on one machine."""
    @functools.wraps(fn)
    def run(path, *args, **kwargs):
        start = args[0] if args and isinstance(args[0], (int, np.integer)) else None
        with shard_errors(f"shard '{path}'", start):
            return fn(path, *args, **kwargs)

    return run


def _context(pool, strategy: str, seed, labeled_local: np.ndarray, start: int) -> Context:
    candidates = np.ones(pool.n_rows, dtype=bool)
    candidates[labeled_local] = False
    return Context(pool=pool, candidates=candidates, labeled=labeled_local, seed=seed,
                   rng=np.random.default_rng(seed), strategy=strategy, row_offset=start)


@on_shard
def shard_top(path: str, start: int, strategy: str, params: dict, seed, labeled_local: np.ndarray, k: int):
    """One shard's best ``k`` candidates of a ranking strategy.

    Returns (global rows, sort keys (larger first), tie keys, scores), in the global order.
    """
    from ..pool.reader import Pool
    from ..selection import rank_order
    from ..strategies import get_strategy

    spec = get_strategy(strategy)
    with Pool(path) as pool:
        ctx = _context(pool, spec.name, seed, labeled_local, start)
        rows = np.flatnonzero(ctx.candidates)
        if rows.size == 0:
            empty = np.empty(0)
            return np.empty(0, np.int64), empty, np.empty(0, np.int64), empty
        result = spec.load()(ctx, min(k, rows.size), **params)
        if not isinstance(result, Ranking):  # the driver sends ranking strategies only
            raise SelectionError(f"strategy '{strategy}' is not a ranking strategy")
        scores = np.asarray(result.scores, dtype=np.float64)
        key = -scores if result.ascending else scores
        tie = tie_keys(seed, start + np.arange(pool.n_rows, dtype=np.int64))
        order = rank_order(key, rows, tie, min(k, rows.size))
        return start + order, key[order], tie[order], scores[order]


class GreedyShard:
    """What every k-center shard state shares: ``live`` (pickable rows), ``D`` (their exact
    minima), ``start``, ``labeled``; subclasses read the shard and define ``vectors``
    (what the client and other shards need of some rows), ``first_candidates`` and ``fold``."""

    def labeled_vectors(self):
        return self.vectors(self.start + self.labeled)

    def nth_pickable(self, index: int) -> int:
        return int(self.start + np.flatnonzero(self.live)[index])

    def distance(self, global_row: int) -> float:
        return float(self.D[int(global_row) - self.start])

    def top(self, m: int):
        """The m best pickable rows by (D desc, row asc), their vectors, and the (m+1)-th as bound.

        Returns (global rows, D, their ``vectors``, bound) with bound
        ``(D, global row)`` or None when every pickable row was sent."""
        rows = np.flatnonzero(self.live)
        if rows.size > m + 1:
            d = self.D[rows]
            cut = np.partition(d, rows.size - (m + 1))[rows.size - (m + 1)]
            rows = rows[d >= cut]
        order = rows[np.lexsort((rows, -self.D[rows]))]
        bound = None
        if order.size > m:
            bound = (float(self.D[order[m]]), int(self.start + order[m]))
            order = order[:m]
        return self.start + order, self.D[order].copy(), self.vectors(self.start + order), bound


class KCenterShard(GreedyShard):
    """One shard's k-center state: its rows, which may still be picked, their exact minima."""

    def __init__(self, path: str, start: int, features: str, labeled_local: np.ndarray, uwe=None):
        from ..kernels import kcenter as kc
        from ..pool.reader import Pool

        from ..validation import as_float_matrix

        with Pool(path) as pool:
            # float16 stays float16 (half the memory) and is widened block by block, exactly, to the
            # engine's float32; float32 and float64 are kept: the engine's values
            if pool.dtype(features) == np.float16:
                self.X = np.ascontiguousarray(pool.read(features, dtype=np.float16))
            else:
                self.X = as_float_matrix("X", pool.read(features))
            self.work = np.float32 if self.X.dtype == np.float16 else self.X.dtype
            self.s = np.ones(self.X.shape[0])
            if uwe is not None:  # uwe's k-center sampler: rows scaled by u(x)^tau
                from .d2 import uwe_finish, uwe_raw

                uncertainty, tau, normalize, bounds = uwe
                u = uwe_raw(pool.read("probs"), uncertainty)  # validated there, with the stored dtype's tolerance
                self.s = np.ascontiguousarray(uwe_finish(u, tau, normalize, bounds), dtype=np.float64)
        self.start = start
        self.n, self.anorm = np.empty(self.X.shape[0]), np.empty(self.X.shape[0])
        step = max(1, FOLD_ENTRIES // max(1, self.X.shape[1]))
        for r0 in range(0, self.X.shape[0], step):
            block = self._rows(r0, r0 + step)
            self.n[r0:r0 + step] = kc.row_sqnorms(block, self.s[r0:r0 + step])
            self.anorm[r0:r0 + step] = kc.row_norms_unscaled(block)
        self.live = np.ones(self.X.shape[0], dtype=bool)
        self.live[labeled_local] = False
        self.labeled = np.asarray(labeled_local, dtype=np.int64)
        self.D = np.full(self.X.shape[0], np.inf)
        self.exact_pairs = 0

    def _rows(self, lo: int, hi: int) -> np.ndarray:
        return np.ascontiguousarray(self.X[lo:hi], dtype=self.work)

    def first_candidates(self):
        """(pickable rows, the largest scaled squared norm, its lowest global row) for max-norm."""
        rows = np.flatnonzero(self.live)
        if rows.size == 0:
            return 0, -np.inf, -1
        i = rows[int(np.argmax(self.n[rows]))]
        return int(rows.size), float(self.n[i]), int(self.start + i)

    def vectors(self, global_rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X rows, scales, scaled squared norms) of some of this shard's rows, by global row."""
        local = np.asarray(global_rows, dtype=np.int64) - self.start
        return np.asarray(self.X[local], dtype=self.work), self.s[local], self.n[local]

    def fold(self, parts, picked_global) -> "KCenterShard":
        """Fold new centers (a list of (X, s, n) triples) and drop picked rows of this shard."""
        from ..error_bounds import U64, gamma, unit_roundoff
        from ..kernels import kcenter as kc
        from ..kernels.sharded_kcenter import fold_centers

        local = np.asarray(picked_global, dtype=np.int64) - self.start
        local = local[(local >= 0) & (local < self.X.shape[0])]
        self.live[local] = False
        parts = [p for p in parts if len(p[0])]
        if not parts or not self.live.any():
            return self
        C = np.ascontiguousarray(np.concatenate([p[0] for p in parts]).astype(self.work))
        cs = np.concatenate([p[1] for p in parts])
        cn = np.concatenate([p[2] for p in parts])
        cnorm = kc.row_norms_unscaled(C)
        K = self.X.shape[1]
        # the screening product's precision, and the canonical float64 one
        g_gemm, g64 = gamma(K + 2, unit_roundoff(self.work)), gamma(K + 2, U64)
        CT = np.ascontiguousarray(C.T)
        step = max(64, FOLD_ENTRIES // C.shape[0])
        for r0 in range(0, self.X.shape[0], step):
            r1 = r0 + step
            block = self._rows(r0, r1)
            dots = block @ CT
            self.exact_pairs += int(fold_centers(block, self.s[r0:r1], self.n[r0:r1], self.anorm[r0:r1],
                                                 self.live[r0:r1], self.D[r0:r1], 0, dots,
                                                 C, cs, cn, cnorm, g_gemm, g64))
        return self

@on_shard
def kcenter_build(path, start, labeled_local, features, uwe=None):
    return KCenterShard(path, start, features, labeled_local, uwe)


def kcenter_fold(state: KCenterShard, parts, picked_global):
    return state.fold(parts, picked_global)


def kcenter_call(state: KCenterShard, method: str, *args):
    return getattr(state, method)(*args)

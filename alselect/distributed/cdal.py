"""Distributed CDAL-CS: K-Center-Greedy with contextual diversity, by the rounds of
``alselect.distributed.rounds``.

A shard state holds its images' compact mixtures (``alselect.cdal``: the present (image,
group) rows as float64 ``[P | log P]``) and their exact min CD to the centers; a center
travels as its compact rows, their groups and its row count. Every CD value is the
single-machine ``cd_pair`` with the candidate as the first image (``alselect.kernels.
sharded_cdal``), so the sequence and the distances are the single-machine ones bit for bit.
"""

from __future__ import annotations

import numpy as np

from .rounds import Space
from .tasks import GreedyShard, on_shard


def _gather(x, g, row_off, local):
    """Compact rows of some images: (x rows, groups, rows per image)."""
    local = np.asarray(local, dtype=np.int64)
    counts = (row_off[local + 1] - row_off[local]).astype(np.int64)
    if local.size == 0:
        return x[:0], g[:0], counts
    idx = np.concatenate([np.arange(row_off[i], row_off[i + 1]) for i in local])
    return x[idx], g[idx], counts


class CdShard(GreedyShard):
    """One shard's CDAL-CS state: compact mixtures, pickable images, exact min CD."""

    def __init__(self, path: str, start: int, labeled_local: np.ndarray, layout: str, classes, mean: bool):
        from .. import cdal
        from ..pool.reader import Pool
        from ..strategies.contextual import load_cd_inputs

        with Pool(path) as pool:
            inputs = load_cd_inputs(pool, layout)
        _, _, cmp_ = cdal._prepare(inputs.mixtures, inputs.present, classes, cdal.PROB_FLOOR)
        self.x, self.g, self.row_off, pos = cmp_
        self.K = int(pos.shape[1])
        self.h = cdal._entropy_from_compact(cmp_)
        N = pos.shape[0]
        self.start, self.mean = start, bool(mean)
        self.live = np.ones(N, dtype=bool)
        self.live[labeled_local] = False
        self.labeled = np.asarray(labeled_local, dtype=np.int64)
        self.D = np.full(N, np.inf)

    def first_candidates(self):
        """(pickable images, the largest mixture entropy, its lowest global row)."""
        rows = np.flatnonzero(self.live)
        if rows.size == 0:
            return 0, -np.inf, -1
        i = rows[int(np.argmax(self.h[rows]))]
        return int(rows.size), float(self.h[i]), int(self.start + i)

    def vectors(self, global_rows):
        """(compact rows, groups, rows per image, K) of some of this shard's images."""
        x, g, counts = _gather(self.x, self.g, self.row_off, np.asarray(global_rows, dtype=np.int64) - self.start)
        return x, g, counts, self.K

    def fold(self, parts, picked_global) -> "CdShard":
        """Fold new centers (a list of ``vectors`` payloads) and drop picked images of this shard."""
        from ..kernels.sharded_cdal import center_table, fold_cd

        local = np.asarray(picked_global, dtype=np.int64) - self.start
        local = local[(local >= 0) & (local < self.live.size)]
        self.live[local] = False
        parts = [p for p in parts if len(p[2])]
        if not parts or not self.live.any():
            return self
        xb = np.ascontiguousarray(np.concatenate([p[0] for p in parts]))
        posb = center_table(np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]), self.K)
        fold_cd(self.x, self.g, self.row_off, np.flatnonzero(self.live), self.D, xb, posb, self.mean)
        return self


@on_shard
def cd_build(path, start, labeled_local, layout, classes, mean):
    return CdShard(path, start, labeled_local, layout, classes, mean)


class CdSpace(Space):
    """cdal-cs's side of the rounds driver: scores are the CD itself (not a square root)."""

    def __init__(self, layout: str, classes, reduce: str, init: str):
        self.build = cd_build
        self.mean = reduce == "mean"
        self.build_args = (layout, classes, self.mean)
        self.init = init

    def merge(self, payloads):
        x = np.ascontiguousarray(np.concatenate([p[0] for p in payloads]))
        g = np.concatenate([p[1] for p in payloads])
        counts = np.concatenate([p[2] for p in payloads])
        off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return x, g, counts, payloads[0][3], off

    def take(self, payload, idx):
        x, g, _, K, off = payload
        xs, gs, counts = _gather(x, g, off, idx)
        return xs, gs, counts, K

    def fold(self, payload, D, rest, best):
        from ..kernels.sharded_cdal import center_table, fold_cd

        x, g, _, K, off = payload
        xb, gb, cb, _ = self.take(payload, np.array([best]))
        fold_cd(x, g, off, rest.astype(np.int64), D, np.ascontiguousarray(xb), center_table(gb, cb, K), self.mean)

    def forced_first(self, ctx):
        if self.init == "random":  # the released code's seeded random first pick, as on one machine
            return int(ctx.rng.choice(np.flatnonzero(ctx.candidates)))
        return None


def cdal_select(client, ctx, params: dict, count: int, stats, min_candidates: int, max_candidates: int):
    """Distributed ``cdal-cs``: (picks, min CD at pick time) equal to the single-machine ones."""
    from ..strategies.contextual import parse_classes, resolve_layout
    from .rounds import greedy_rounds

    layout = resolve_layout(ctx.pool, params["layout"])
    cls = parse_classes(params["classes"], ctx.pool, layout)
    space = CdSpace(layout, None if cls is None else np.asarray(cls, dtype=np.int64), params["reduce"], params["init"])
    out = greedy_rounds(client, ctx, space, count, stats, min_candidates, max_candidates)
    ctx.note(f"contextual diversity from the '{layout}' layout, {params['reduce']} over shared classes")
    return out

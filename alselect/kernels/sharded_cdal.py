"""Kernels of distributed CDAL-CS: one shard's exact min contextual diversity to the centers.

Every CD value is ``alselect.kernels.cdal.cd_pair`` with the row as image ``a`` and the
center as image ``b``, the call the single-machine kernels make, so a shard folding centers
that live in a separate table (they come from other shards) holds the engine's values bit
for bit; a minimum does not depend on the order its terms arrive in.
"""

import numba
import numpy as np

from .cdal import cd_pair


@numba.njit(cache=True)
def center_table(g, counts, K):
    """(M, K) int64 ``pos`` of M center images whose compact rows (groups ``g``) come
    ``counts[m]`` per image, in order; -1 where the center lacks the group."""
    M = counts.shape[0]
    pos = np.full((M, K), -1, dtype=np.int64)
    r = 0
    for m in range(M):
        for _ in range(counts[m]):
            pos[m, g[r]] = r
            r += 1
    return pos


@numba.njit(cache=True, parallel=True)
def fold_cd(x, g, row_off, rows, D, xb, posb, mean):
    """``D[i] = min(D[i], min_m cd(i, center m))`` for the images ``i`` in ``rows`` of a compact
    table (x, g, row_off) and the centers of (xb, posb); updates D in place."""
    M = posb.shape[0]
    for t in numba.prange(rows.shape[0]):
        i = rows[t]
        best = D[i]
        for m in range(M):
            v = cd_pair(x, g, row_off[i], row_off[i + 1], xb, posb, m, mean)
            if v < best:
                best = v
        D[i] = best

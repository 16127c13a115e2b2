"""Kernels of distributed K-Center-Greedy: one shard's exact running minimum distances.

The sequence is defined on ``D64(i) = min_c d64(i, c)`` (alselect.kernels.kcenter, exactness
rule), with ``d64`` the plain left-to-right float64 sum of ``_exact_pair``. Here the centers
live in a separate array (they come from other shards), so :func:`exact_sqdist` repeats that
sum operation for operation; tests check the two agree bit for bit. A minimum does not depend
on the order its terms arrive in, so a shard folding centers round by round holds exactly the
single-machine ``D64``.

Screening: a center is evaluated exactly only when its input-precision BLAS value, minus the
engine's rigorous error bound, is below the row's current minimum; otherwise it cannot lower it.
"""

import numpy as np
from numba import njit, prange

from ..error_bounds import BOUND_SAFETY, U64


@njit(cache=True)
def exact_sqdist(A, i, si, C, j, sj):
    """d64 between row i of A (scale si) and row j of C (scale sj): the MODE_EUCLID sum of
    ``alselect.kernels.kcenter._exact_pair``."""
    K = A.shape[1]
    acc = 0.0
    for k in range(K):
        v = si * np.float64(A[i, k]) - sj * np.float64(C[j, k])
        acc += v * v
    return acc


@njit(cache=True, parallel=True)
def fold_centers(A, s, n, anorm, live, D, r0, dots, C, cs, cn, cnorm, g_gemm, g64):
    """Fold centers C into D[r0:r0+len(dots)] of the live rows.

    Parameters
    ----------
    A : (N, K) shard rows; s, n, anorm : (N,) float64 scales, scaled squared norms, unscaled norms
    live : (N,) bool  rows whose minimum is needed
    D : (N,) float64  exact running minima, updated in place
    r0 : int  first row of this block; dots : (rows, R) input-precision dot products A[r0:] . C
    C : (R, K) centers (same dtype as A); cs, cn, cnorm : (R,) their scales, scaled squared norms, norms
    g_gemm, g64 : gamma factors of the screening and the exact dot products

    Returns
    -------
    int  row-center pairs evaluated exactly
    """
    rows, R = dots.shape
    exact = np.zeros(rows, dtype=np.int64)
    for r in prange(rows):
        i = r0 + r
        if not live[i]:
            continue
        ai = abs(s[i]) * anorm[i]
        best = D[i]
        for c in range(R):
            bc = abs(cs[c]) * cnorm[c]
            a = n[i] + cn[c] - 2.0 * s[i] * cs[c] * np.float64(dots[r, c])
            err = BOUND_SAFETY * (2.0 * ai * bc * (g_gemm + g64)
                                  + (8.0 * U64 + 2.0 * g64) * (abs(n[i]) + abs(cn[c]) + 2.0 * ai * bc))
            if a - err < best:
                exact[r] += 1
                v = exact_sqdist(A, i, s[i], C, c, cs[c])
                if v < best:
                    best = v
        D[i] = best
    return exact.sum()


@njit(cache=True)
def fold_candidates(X, xs, D, C, cs):
    """Driver side: fold centers C into the candidates' exact minima D (candidate rows X)."""
    for i in range(X.shape[0]):
        best = D[i]
        for c in range(C.shape[0]):
            v = exact_sqdist(X, i, xs[i], C, c, cs[c])
            if v < best:
                best = v
        D[i] = best

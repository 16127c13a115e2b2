"""Greedy class-balanced k-center (Bengar et al., Algorithm 2), lazy and exact.

At step ``t`` (picks so far ``z``, residual ``r = Omega - P^T z``) the pick is::

    argmin_j  s_j = -d_j + lam * || r - p_j ||_1,

over the remaining candidates, where ``d_j`` is the Euclidean distance from
row ``j`` to its nearest center (labeled rows and picks so far).

Lazy evaluation.  For ``p_j >= 0`` and ``R = ||r||_1``::

    || r - p_j ||_1 = R - sum_i p_ji + 2 * E_j,   E_j = sum_i max(p_ji - max(r_i, 0), 0).

Picks only subtract non-negative rows from ``r``, so ``max(r_i, 0)`` never
grows and ``E_j`` never falls; ``d_j`` never grows either.  Hence the key
``k_j = d_j - lam * (2 E_j - sum_i p_ji)`` (so that ``s_j = lam*R - k_j``)
only falls over time, and a key computed at an earlier step is an upper bound
of the current one.  A max-heap of keys is popped; stale entries are
refreshed (distance to the centers added since, early-exit partial sums; new
``E_j``) and pushed back; the first fresh entry on top is the argmax of the
true key.  Every (row, center) distance is computed at most once, so the work
never exceeds the eager algorithm's, and usually is a small fraction of it.

Ties.  Exact scores ``s_j = -sqrt(d2_j) + lam * sum_i |r_i - p_ji|`` are
computed in float64 for every fresh candidate whose key is within
``2 * tol`` of the top key, ``tol = TIE_RTOL * (1 + d_top + lam * pen_top)``;
the pick is the lowest row among those with ``s_j <= min s + tol``.
Squared distances are sums of float64 squared differences of the stored
coordinates.
"""

import numba
import numpy as np

from .progress_hook import tick

#: Relative tolerance under which two scores count as tied (lowest row wins).
TIE_RTOL = 1e-12


@numba.njit(cache=True, inline="always")
def _sqdist_upto(X, a, c, bound):
    """Squared distance of rows ``a`` and ``c``; stops early once above ``bound``."""
    D = X.shape[1]
    acc = 0.0
    blk = 64
    for s in range(0, D, blk):
        e = min(s + blk, D)
        for k in range(s, e):
            diff = np.float64(X[a, k]) - np.float64(X[c, k])
            acc += diff * diff
        if acc > bound:
            return acc
    return acc


@numba.njit(cache=True)
def _extra(P, j, r):
    """``E_j = sum_i max(p_ji - max(r_i, 0), 0)``."""
    e = 0.0
    for i in range(P.shape[1]):
        ri = r[i] if r[i] > 0.0 else 0.0
        v = np.float64(P[j, i]) - ri
        if v > 0.0:
            e += v
    return e


@numba.njit(cache=True)
def _penalty(P, j, r):
    """``sum_i |r_i - p_ji|`` in float64."""
    acc = 0.0
    for i in range(P.shape[1]):
        acc += abs(r[i] - np.float64(P[j, i]))
    return acc


@numba.njit(cache=True, parallel=True)
def min_sqdist_to_centers(X, rows, centers, d2):
    """``d2[j] = min(d2[j], min_c ||x_j - x_c||^2)`` for every ``j`` in ``rows`` (parallel).

    Called from Python (not from another kernel: cached parallel kernels called
    from cached kernels crashed with numba 0.68).
    """
    for t in numba.prange(rows.size):
        j = rows[t]
        best = d2[j]
        for q in range(centers.size):
            v = _sqdist_upto(X, j, centers[q], best)
            if v < best:
                best = v
        d2[j] = best


@numba.njit(cache=True, parallel=True)
def fold_screened_block(X, rows, centers, G, sqn, nrm, gamma_dot, gamma64, d2, upper):
    """Fold one GEMM block of centers into ``d2`` with exact float64 re-checks.

    ``G[a, q]`` is the BLAS dot ``<x_rows[a], x_centers[q]>`` in the input dtype,
    so ``approx = n_j + n_c - 2 G`` differs from the canonical float64 squared
    distance ``d64`` by at most
    ``B = 2 gamma_dot |x_j| |x_c| + 8 gamma64 (|x_j| + |x_c|)^2``
    (dot-product rounding, float64 norms and sum).  A center can hold the
    minimum only if ``approx - B <= upper[j]`` (the running min of
    ``approx + B``); only those are recomputed exactly.  The result in ``d2`` is
    therefore exactly ``min_c d64(j, c)``.

    Parameters
    ----------
    X : ndarray, shape (N, D)
    rows : ndarray of int64, shape (R,)
    centers : ndarray of int64, shape (Q,)
    G : ndarray of float32 or float64, shape (R, Q)
    sqn : ndarray of float64, shape (N,)
        Squared row norms.
    nrm : ndarray of float64, shape (N,)
        Row norms.
    gamma_dot, gamma64 : float
        ``K u / (1 - K u)`` for the GEMM dtype and for float64.
    d2 : ndarray of float64, shape (N,)
        Running exact minimum (updated in place).
    upper : ndarray of float64, shape (N,)
        Running minimum of the upper bounds (updated in place).
    """
    for a in numba.prange(rows.size):
        j = rows[a]
        up = upper[j]
        for q in range(centers.size):
            c = centers[q]
            approx = sqn[j] + sqn[c] - 2.0 * np.float64(G[a, q])
            s = nrm[j] + nrm[c]
            bound = 2.0 * gamma_dot * nrm[j] * nrm[c] + 8.0 * gamma64 * s * s
            if approx + bound < up:
                up = approx + bound
        best = d2[j]
        for q in range(centers.size):
            c = centers[q]
            approx = sqn[j] + sqn[c] - 2.0 * np.float64(G[a, q])
            s = nrm[j] + nrm[c]
            bound = 2.0 * gamma_dot * nrm[j] * nrm[c] + 8.0 * gamma64 * s * s
            if approx - bound <= up and approx - bound <= best:
                v = _sqdist_upto(X, j, c, best)
                if v < best:
                    best = v
        d2[j] = best
        upper[j] = up


@numba.njit(cache=True)
def first_pick_by_penalty(P, r, lam, cand_rows):
    """First pick with nothing labeled: ``argmin_j lam * ||r - p_j||_1``, lowest row on ties.

    Parameters
    ----------
    P : ndarray, shape (N, C)
    r : ndarray of float64, shape (C,)
    lam : float
    cand_rows : ndarray of int64, shape (M,), sorted

    Returns
    -------
    int
    """
    M = cand_rows.size
    if lam == 0.0:
        return cand_rows[0]
    best = np.inf
    for t in range(M):
        pj = lam * _penalty(P, cand_rows[t], r)
        if pj < best:
            best = pj
    tol = TIE_RTOL * (1.0 + best)
    for t in range(M):
        if lam * _penalty(P, cand_rows[t], r) <= best + tol:
            return cand_rows[t]
    return cand_rows[0]


@numba.njit(cache=True)
def _sift_up(heap, key, pos):
    item = heap[pos]
    kv = key[item]
    while pos > 0:
        parent = (pos - 1) >> 1
        if key[heap[parent]] >= kv:
            break
        heap[pos] = heap[parent]
        pos = parent
    heap[pos] = item


@numba.njit(cache=True)
def _sift_down(heap, key, n, pos):
    item = heap[pos]
    kv = key[item]
    while True:
        child = 2 * pos + 1
        if child >= n:
            break
        if child + 1 < n and key[heap[child + 1]] > key[heap[child]]:
            child += 1
        if key[heap[child]] <= kv:
            break
        heap[pos] = heap[child]
        pos = child
    heap[pos] = item


@numba.njit(cache=True)
def balanced_kcenter_kernel(X, P, omega, budget, lam, labeled, cand_rows, first, d2, every=0):
    """Run Algorithm 2 lazily.

    Parameters
    ----------
    X : ndarray of float32 or float64, shape (N, D), C-contiguous
        Embeddings.
    P : ndarray of float32 or float64, shape (N, C), C-contiguous
        Class probabilities (non-negative).
    omega : ndarray of float64, shape (C,)
        Samples still needed per class.
    budget : int
        Number of picks, ``1 <= budget <= cand_rows.size``.
    lam : float
        Weight of the balance penalty (``>= 0``).
    labeled : ndarray of int64, shape (L,)
        Initial centers (may be empty).
    cand_rows : ndarray of int64, shape (M,)
        Sorted candidate rows (disjoint from ``labeled``).
    first : int
        With ``L == 0``: the first pick (:func:`first_pick_by_penalty`); ignored otherwise.
    d2 : ndarray of float64, shape (N,)
        Squared distance of every candidate to its nearest initial center
        (labeled rows, or ``first`` when ``L == 0``), from
        :func:`min_sqdist_to_centers`; updated in place.
    every : int
        Progress report stride in picks (``progress_hook.tick``); 0 reports
        nothing.  Picks do not depend on it.

    Returns
    -------
    picks : ndarray of int64, shape (budget,)
        Rows in pick order.
    """
    N = X.shape[0]
    C = P.shape[1]
    L = labeled.size
    M = cand_rows.size
    centers = np.empty(L + budget, dtype=np.int64)
    centers[:L] = labeled
    picks = np.empty(budget, dtype=np.int64)
    r = omega.copy()
    stamp = np.zeros(N, dtype=np.int64)     # centers already folded into d2[j]
    estamp = np.zeros(N, dtype=np.int64)    # step at which E[j] was computed
    E = np.zeros(N)
    S = np.zeros(N)                         # row sums of P
    key = np.full(N, -np.inf)
    use_pen = lam > 0.0
    for t in range(M):
        j = cand_rows[t]
        acc = 0.0
        for i in range(C):
            acc += np.float64(P[j, i])
        S[j] = acc
    if use_pen:
        for t in range(M):
            E[cand_rows[t]] = _extra(P, cand_rows[t], r)

    alive = np.ones(N, dtype=np.bool_)
    step = 0
    ncent = L
    if L == 0:
        # d_j = +inf for every row, so the penalty alone chose ``first``
        picks[0] = first
        alive[first] = False
        centers[0] = first
        for i in range(C):
            r[i] -= np.float64(P[first, i])
        ncent = 1
        step = 1
        if use_pen:
            for t in range(M):
                E[cand_rows[t]] = _extra(P, cand_rows[t], r)
                estamp[cand_rows[t]] = step
    for t in range(M):
        stamp[cand_rows[t]] = ncent

    heap = np.empty(M, dtype=np.int64)
    n = 0
    for t in range(M):
        j = cand_rows[t]
        if not alive[j]:
            continue
        key[j] = np.sqrt(d2[j]) - lam * (2.0 * E[j] - S[j])
        heap[n] = j
        n += 1
        _sift_up(heap, key, n - 1)

    coll = np.empty(M, dtype=np.int64)
    last = tick(step, 0, every, budget)
    while step < budget:
        R = 0.0
        for i in range(C):
            R += abs(r[i])
        nc = 0
        kstar = -np.inf
        tol = 0.0
        while n > 0:
            j = heap[0]
            if nc > 0 and key[j] < kstar - 2.0 * tol:
                break
            # pop
            n -= 1
            heap[0] = heap[n]
            if n > 0:
                _sift_down(heap, key, n, 0)
            if stamp[j] < ncent or (use_pen and estamp[j] < step):
                best = d2[j]
                for q in range(stamp[j], ncent):
                    v = _sqdist_upto(X, j, centers[q], best)
                    if v < best:
                        best = v
                d2[j] = best
                stamp[j] = ncent
                if use_pen:
                    E[j] = _extra(P, j, r)
                    estamp[j] = step
                key[j] = np.sqrt(d2[j]) - lam * (2.0 * E[j] - S[j])
                heap[n] = j
                n += 1
                _sift_up(heap, key, n - 1)
                continue
            if nc == 0:
                kstar = key[j]
                pen_top = R - S[j] + 2.0 * E[j]
                tol = TIE_RTOL * (1.0 + np.sqrt(d2[j]) + lam * abs(pen_top))
            coll[nc] = j
            nc += 1
        # exact scores of the collected fresh candidates
        smin = np.inf
        for q in range(nc):
            j = coll[q]
            sc = -np.sqrt(d2[j]) + (lam * _penalty(P, j, r) if use_pen else 0.0)
            if sc < smin:
                smin = sc
        win = -1
        for q in range(nc):
            j = coll[q]
            sc = -np.sqrt(d2[j]) + (lam * _penalty(P, j, r) if use_pen else 0.0)
            if sc <= smin + tol and (win < 0 or j < win):
                win = j
        for q in range(nc):
            j = coll[q]
            if j != win:
                heap[n] = j
                n += 1
                _sift_up(heap, key, n - 1)
        picks[step] = win
        alive[win] = False
        centers[ncent] = win
        ncent += 1
        for i in range(C):
            r[i] -= np.float64(P[win, i])
        step += 1
        last = tick(step, last, every, budget)
    return picks

"""k-means++ seeding (D^2 sampling without replacement), plain or BADGE.

Distance model
--------------
Squared Euclidean distance between (possibly implicit) embeddings g_i:

    d(i, j) = n[i] + n[j] - 2 s[i] s[j] <A[i], A[j]> * q(i, j)          (1)

with q(i, j) = <Q[i], Q[j]> when ``has_q`` and 1 otherwise.
* plain k-means++ : A = X, s = 1, n = ||x||^2
* UWE k-means++   : A = F, s = u^tau, n = s^2 ||f||^2 (scaled copy never built)
* BADGE           : A = F, Q = p - onehot(argmax p), n = ||Q_i||^2 ||F_i||^2;
  (1) is then ||Q_i (x) F_i - Q_j (x) F_j||^2 by the Kronecker identity
  <a (x) f, b (x) g> = <a, b><f, g>, so the N x (C.D) matrix is never built.
Values of (1) below ``ZERO_REL * (n_i + n_j)`` are rounding noise around an
exact duplicate and are set to 0.

Sampling rule (shared with the NumPy references and the sharded engine)
-----------------------------------------------------------------------
Pick t is an exponential race (``alselect.kernels.race``): with D2 the current
min-distance vector, the pickable row of smallest ``-log(U(seed, t, row)) / D2``
(ties lowest row), rows with D2 = 0 left out; when every pickable row has
D2 = 0 (only duplicates of centers remain) the smallest ``-log U`` among them.
Exactly P(i) = D2_i / sum D2, with no sum whose rounding depends on the order
of the rows, so a sharded pool gives the same picks.

Pruning (exact; Euclidean geometry of the g space)
--------------------------------------------------
Each row remembers its nearest center a(i).  With a new center c, the row can
only get closer if d(c, a(i)) < 2 sqrt(D2_i) (Elkan's lemma) and
| ||g_i|| - ||g_c|| | < sqrt(D2_i); whole groups of rows sharing a(i) are
skipped with the group maximum of D2.  For BADGE a third test bounds
|a_i.a_c| from the pseudo-labels and two probabilities (``_badge_lower_bound``)
so that most rows are skipped without reading their features.  Both tests carry a small relative
slack ``PRUNE_SLACK`` so that rounding never prunes a row that would change.
"""

import numpy as np
from numba import njit

from .progress_hook import tick
from .race import _pick_base, _race

#: relative size below which a computed distance is treated as exactly 0
ZERO_REL = 1e-12
#: relative slack of the pruning tests
PRUNE_SLACK = 1e-9


@njit(cache=True, fastmath={"reassoc", "contract"})
def _dot(A, i, j):
    """float64-accumulated dot of rows i and j of A."""
    acc = 0.0
    for k in range(A.shape[1]):
        acc += np.float64(A[i, k]) * np.float64(A[j, k])
    return acc


@njit(cache=True, inline="always")
def pair_dist(A, Q, has_q, n, s, i, j):
    """Distance (1) between rows i and j, clipped at 0 below ZERO_REL."""
    g = _dot(A, i, j)
    if has_q:
        g *= _dot(Q, i, j)
    d = n[i] + n[j] - 2.0 * s[i] * s[j] * g
    if d <= ZERO_REL * (n[i] + n[j]):
        return 0.0
    return d


@njit(cache=True, inline="always")
def _badge_lower_bound(Q, n, anorm, y, psum, fnorm, i, c, pc2):
    """Lower bound on the BADGE distance (1) from O(1) reads of row i.

    With a = p - onehot(y) and p >= 0,
    a_i.a_c = p_i.p_c - p_i[y_c] - p_c[y_i] + [y_i = y_c] and
    0 <= p_i.p_c <= p_i[y_c] p_c[y_c] + pc2 (sum_k p_i[k] - p_i[y_c]), with
    ``pc2`` = max_{k != y_c} p_c[k] (split the dot at k = y_c, the largest
    entry of p_c), which bounds |a_i.a_c| without reading a_i;
    |f_i.f_c| <= |f_i| |f_c| then bounds the distance.
    """
    yi = y[i]
    yc = y[c]
    same = 1.0 if yi == yc else 0.0
    pi_yc = np.float64(Q[i, yc]) + same       # p_i[y_c]
    pc_yi = np.float64(Q[c, yi]) + same       # p_c[y_i]
    pc_max = np.float64(Q[c, yc]) + 1.0       # p_c[y_c]
    base = same - pi_yc - pc_yi
    hi = base + pi_yc * pc_max + pc2 * max(psum[i] - pi_yc, 0.0)
    amax = max(abs(base), abs(hi))
    cs = anorm[i] * anorm[c]
    if cs < amax:
        amax = cs
    return n[i] + n[c] - 2.0 * amax * fnorm[i] * fnorm[c]


@njit(cache=True, inline="always")
def _badge_class_bound(n, anorm, y, psum, fnorm, i, c, pc_yi, pc_max, pc2, xmax):
    """``_badge_lower_bound`` without reading row i of Q.

    p_i[y_c] is only known to lie in [0, xmax], xmax = max p_j[y_c] over the
    rows j of class y_i (a C x C table built once).  The bound on |a_i.a_c| is
    the larger of two affine functions' absolute values, convex in p_i[y_c],
    so its maximum over the interval is at an end point.
    """
    same = 1.0 if y[i] == y[c] else 0.0
    amax = 0.0
    for x in (0.0, xmax):
        base = same - x - pc_yi
        hi = base + x * pc_max + pc2 * max(psum[i] - x, 0.0)
        v = max(abs(base), abs(hi))
        if v > amax:
            amax = v
    cs = anorm[i] * anorm[c]
    if cs < amax:
        amax = cs
    return n[i] + n[c] - 2.0 * amax * fnorm[i] * fnorm[c]


@njit(no_cpython_wrapper=True)
def _add_center(A, Q, has_q, n, nrm, s, c, q, d2, assign, active, maxd2, centers,
                skip, cc2, y, psum, fnorm, anorm, pmax_cls):
    """Fold center c (slot q) into the min-distance state; pruned, exact.

    One pass over the rows does the fold and the bookkeeping of the next
    draw: the float64 total of D2 (only its sign matters: whether the race
    is weighted) and the per-center group maximum of D2 (``maxd2``, read only
    before the pass to decide the group skips, so it is rebuilt in place).

    ``nrm`` is sqrt(n); ``y, psum, fnorm, anorm`` (argmax class, probability
    row sums, |f|, |a|) enable the O(1) BADGE bound when ``has_q``; unused
    otherwise.  Serial on purpose: one fork-join per pick costs whole
    scheduler time slices on a busy 2-core machine, more than the pruned work
    itself.

    Returns
    -------
    evals : int  distances evaluated
    total : float  float64 sum of D2 over active rows (> 0 iff some D2 > 0)
    remaining : int  active rows
    """
    N = A.shape[0]
    nrm_c = nrm[c]
    evals = 0
    pc2 = 0.0  # max_{k != y_c} p_c[k] for the BADGE bound
    yc = y[c]
    pc_max = 0.0
    if has_q:
        pc_max = np.float64(Q[c, yc]) + 1.0
        for k in range(Q.shape[1]):
            if k != y[c] and np.float64(Q[c, k]) > pc2:
                pc2 = np.float64(Q[c, k])
    for j in range(q):
        skip[j] = True
        if maxd2[j] > 0.0:
            lb = nrm[centers[j]] - nrm_c
            thr = 4.0 * maxd2[j] * (1.0 + PRUNE_SLACK)
            if lb * lb < thr:
                cj = centers[j]
                if has_q:  # the row bounds, applied to the center pair first
                    tol = ZERO_REL * (n[cj] + n[c])
                    if _badge_lower_bound(Q, n, anorm, y, psum, fnorm, cj, c, pc2) >= thr + tol:
                        continue
                    if n[cj] + n[c] - 2.0 * abs(_dot(Q, cj, c)) * fnorm[cj] * fnorm[c] >= thr + tol:
                        continue
                cc2[j] = pair_dist(A, Q, has_q, n, s, c, cj)
                skip[j] = cc2[j] >= thr
    for j in range(q + 1):
        maxd2[j] = 0.0
    total = 0.0
    remaining = 0
    for i in range(N):
        if not active[i]:
            continue
        remaining += 1
        di = d2[i]
        j = assign[i]
        # the bounds inline (a call per row costs more than the tests)
        move = di > 0.0
        if move and j >= 0:
            move = not skip[j] and cc2[j] < 4.0 * di * (1.0 + PRUNE_SLACK)
        if move:
            lb = nrm[i] - nrm_c
            move = lb * lb < di * (1.0 + PRUNE_SLACK)
        if move and has_q:
            yi = y[i]
            lbq = _badge_class_bound(n, anorm, y, psum, fnorm, i, c,
                                     np.float64(Q[c, yi]) + (1.0 if yi == y[c] else 0.0),
                                     pc_max, pc2, pmax_cls[yc, yi])
            move = lbq < di * (1.0 + PRUNE_SLACK) + ZERO_REL * (n[i] + n[c])
        if move and has_q:
            lbq = _badge_lower_bound(Q, n, anorm, y, psum, fnorm, i, c, pc2)
            move = lbq < di * (1.0 + PRUNE_SLACK) + ZERO_REL * (n[i] + n[c])
            if move:  # second stage: exact a_i.a_c (C values) before the D features
                lbq = n[i] + n[c] - 2.0 * abs(_dot(Q, i, c)) * fnorm[i] * fnorm[c]
                move = lbq < di * (1.0 + PRUNE_SLACK) + ZERO_REL * (n[i] + n[c])
        if move:
            evals += 1
            d = pair_dist(A, Q, has_q, n, s, i, c)
            if d < di:
                d2[i] = d
                assign[i] = q
                j = q
                di = d
        total += di
        if j >= 0 and di > maxd2[j]:
            maxd2[j] = di
    return evals, total, remaining


@njit(cache=True)
def add_center(A, Q, has_q, n, nrm, s, c, q, d2, assign, active, maxd2, centers,
               skip, cc2, y, psum, fnorm, anorm, pmax_cls):
    """``_add_center`` callable from Python (a shard's fold on a Dask worker); compiled only
    when a distributed selection first calls it, so one machine's first run never pays for it."""
    return _add_center(A, Q, has_q, n, nrm, s, c, q, d2, assign, active, maxd2, centers,
                       skip, cc2, y, psum, fnorm, anorm, pmax_cls)


@njit(cache=True)
def d2_engine(A, Q, has_q, n, s, init_centers, first, seed_base, y, psum, fnorm, anorm,
              pmax_cls, state, picks, every=0):
    """k-means++ seeding on distance (1).

    Parameters
    ----------
    A : (N, K) float32/float64, Q : (N, C) float32/float64 (used if has_q)
    has_q : bool
    n : (N,) float64  s² |A|² (|Q|²), from ``alselect.diversity.d2_rows``
    s : (N,) float64  row scales
    init_centers : (L,) int64  initial centers (may be empty)
    first : int  first pick when L == 0, else ignored
    seed_base : uint64  the seed's race key (``alselect.rowkeys.race_seed``); pick t
        races with ``race.pick_base(seed_base, t)``
    y : (N,) int64  argmax class (BADGE; any values otherwise)
    psum : (N,) float64  row sums of the probabilities (BADGE)
    fnorm, anorm : (N,) float64  |A_i| and |Q_i| (BADGE)
    pmax_cls : (C, C) float64  ``alselect.diversity.badge_class_table`` of the pickable rows
        (BADGE; a (1, 1) table of zeros otherwise)
    state : tuple  ``(active, d2, nrm, assign, centers, maxd2, skip, cc2)`` from
        ``alselect.diversity.d2_state`` (the pickable rows, D2 = inf on them and 0
        elsewhere, sqrt(n), no assignment; per-center slots for L + budget centers),
        updated in place.  Allocated by the caller, as a shard of a distributed run
        does: each ``np.empty`` signature here would be one more compile on first use.
    picks : (budget,) int64  filled in pick order
    every : int  progress report stride in picks (``progress_hook.tick``);
        0 reports nothing.  Picks do not depend on it.

    Returns
    -------
    evals : int  distances evaluated (the rest were pruned)
    """
    L = init_centers.shape[0]
    budget = picks.shape[0]
    if budget == 0:
        return 0
    active, d2, nrm, assign, centers, maxd2, skip, cc2 = state
    # int64 from the start (not literals): one compile of _add_center
    q = np.int64(0)
    q0 = np.int64(0)
    evals = 0
    total = 0.0
    for t in range(L):
        c = init_centers[t]
        centers[q] = c
        ev, total, _ = _add_center(A, Q, has_q, n, nrm, s, c, q, d2, assign, active,
                                   maxd2, centers, skip, cc2, y, psum, fnorm, anorm, pmax_cls)
        evals += ev
        q += 1
    t0 = 0
    if L == 0:
        picks[0] = first
        active[first] = False
        d2[first] = 0.0
        centers[0] = first
        ev, total, _ = _add_center(A, Q, has_q, n, nrm, s, first, q0, d2, assign, active,
                                   maxd2, centers, skip, cc2, y, psum, fnorm, anorm, pmax_cls)
        evals += ev
        q = 1
        t0 = 1
    last = tick(t0, 0, every, budget)
    for t in range(t0, budget):
        w = _race(d2, active, _pick_base(seed_base, t), 0, total > 0.0)[1]
        picks[t] = w
        active[w] = False
        d2[w] = 0.0
        centers[q] = w
        if t + 1 < budget:
            ev, total, _ = _add_center(A, Q, has_q, n, nrm, s, w, q, d2, assign,
                                       active, maxd2, centers, skip, cc2, y, psum,
                                       fnorm, anorm, pmax_cls)
            evals += ev
        q += 1
        last = tick(t + 1, last, every, budget)
    return evals

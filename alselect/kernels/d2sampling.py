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

Sampling rule (shared with the NumPy references)
------------------------------------------------
Pick t consumes ``u[t]``, one uniform in [0, 1).  With D2 the current
min-distance vector (0 for centers, labeled rows and non-candidates), the pick
is the first row i (row order) whose float64 cumulative sum of D2 exceeds
``u[t] * total``; when total == 0 (only duplicates of centers remain) it is the
``floor(u[t] * R)``-th of the R remaining pickable rows in row order.

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
from numba import njit, prange

from .progress_hook import tick

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


@njit(cache=True)
def pair_dist(A, Q, has_q, n, s, i, j):
    """Distance (1) between rows i and j, clipped at 0 below ZERO_REL."""
    g = _dot(A, i, j)
    if has_q:
        g *= _dot(Q, i, j)
    d = n[i] + n[j] - 2.0 * s[i] * s[j] * g
    if d <= ZERO_REL * (n[i] + n[j]):
        return 0.0
    return d


@njit(cache=True, parallel=True)
def sqnorms(A, Q, has_q, s):
    """n[i] = s_i^2 ||A_i||^2 (* ||Q_i||^2 when has_q), float64.

    Parameters
    ----------
    A : (N, K), Q : (N, C) (ignored unless has_q), s : (N,) float64

    Returns
    -------
    (N,) float64
    """
    N = A.shape[0]
    out = np.empty(N)
    for i in prange(N):
        v = s[i] * s[i] * _dot(A, i, i)
        if has_q:
            v *= _dot(Q, i, i)
        out[i] = v
    return out


@njit(cache=True)
def _badge_lower_bound(Q, n, anorm, y, psum, fnorm, i, c):
    """Lower bound on the BADGE distance (1) from O(1) reads of row i.

    With a = p - onehot(y) and p on the simplex,
    a_i.a_c = p_i.p_c - p_i[y_c] - p_c[y_i] + [y_i = y_c] and
    0 <= p_i.p_c <= max_k p_c[k] * sum_k p_i[k], which bounds |a_i.a_c| without
    reading a_i; |f_i.f_c| <= |f_i| |f_c| then bounds the distance.
    """
    yi = y[i]
    yc = y[c]
    same = 1.0 if yi == yc else 0.0
    pi_yc = np.float64(Q[i, yc]) + same       # p_i[y_c]
    pc_yi = np.float64(Q[c, yi]) + same       # p_c[y_i]
    pc_max = np.float64(Q[c, yc]) + 1.0       # p_c[y_c]
    base = same - pi_yc - pc_yi
    hi = base + pc_max * psum[i]
    amax = max(abs(base), abs(hi))
    cs = anorm[i] * anorm[c]
    if cs < amax:
        amax = cs
    return n[i] + n[c] - 2.0 * amax * fnorm[i] * fnorm[c]


@njit(cache=True)
def _add_center(A, Q, has_q, n, s, c, q, d2, assign, active, maxd2, centers,
                skip, cc2, y, psum, fnorm, anorm):
    """Fold center c (slot q) into the min-distance state; pruned, exact.

    ``y, psum, fnorm, anorm`` (argmax class, probability row sums, |f|, |a|)
    enable the O(1) BADGE bound when ``has_q``; unused otherwise.  Serial on
    purpose: one fork-join per pick costs whole scheduler time slices on a
    busy 2-core machine, more than the pruned work itself.
    """
    N = A.shape[0]
    nrm_c = np.sqrt(n[c])
    evals = 0
    for j in range(q):
        skip[j] = True
        if maxd2[j] > 0.0:
            lb = np.sqrt(n[centers[j]]) - nrm_c
            if lb * lb < 4.0 * maxd2[j] * (1.0 + PRUNE_SLACK):
                cc2[j] = pair_dist(A, Q, has_q, n, s, c, centers[j])
                skip[j] = cc2[j] >= 4.0 * maxd2[j] * (1.0 + PRUNE_SLACK)
    for i in range(N):
        if not active[i]:
            continue
        di = d2[i]
        if di == 0.0:
            continue
        j = assign[i]
        if j >= 0:
            if skip[j]:
                continue
            if cc2[j] >= 4.0 * di * (1.0 + PRUNE_SLACK):
                continue
        lb = np.sqrt(n[i]) - nrm_c
        if lb * lb >= di * (1.0 + PRUNE_SLACK):
            continue
        if has_q:
            lbq = _badge_lower_bound(Q, n, anorm, y, psum, fnorm, i, c)
            if lbq >= di * (1.0 + PRUNE_SLACK) + ZERO_REL * (n[i] + n[c]):
                continue
            # second stage: exact a_i.a_c (C values) before the D feature values
            lbq = n[i] + n[c] - 2.0 * abs(_dot(Q, i, c)) * fnorm[i] * fnorm[c]
            if lbq >= di * (1.0 + PRUNE_SLACK) + ZERO_REL * (n[i] + n[c]):
                continue
        evals += 1
        d = pair_dist(A, Q, has_q, n, s, i, c)
        if d < di:
            d2[i] = d
            assign[i] = q
    return evals


@njit(cache=True)
def _scan(d2, assign, active, maxd2, q):
    """Sequential float64 total of D2 (row order) and per-center group max."""
    for j in range(q):
        maxd2[j] = 0.0
    total = 0.0
    remaining = 0
    for i in range(d2.shape[0]):
        if active[i]:
            remaining += 1
            v = d2[i]
            total += v
            j = assign[i]
            if j >= 0 and v > maxd2[j]:
                maxd2[j] = v
    return total, remaining


@njit(cache=True)
def _draw(d2, active, total, remaining, u):
    """The sampling rule of the module docstring."""
    N = d2.shape[0]
    if total > 0.0:
        thr = u * total
        cum = 0.0
        last = -1
        for i in range(N):
            if active[i] and d2[i] > 0.0:
                cum += d2[i]
                last = i
                if cum > thr:
                    return i
        return last  # u * total rounded up to the total
    r = int(np.floor(u * remaining))
    if r >= remaining:
        r = remaining - 1
    for i in range(N):
        if active[i]:
            if r == 0:
                return i
            r -= 1
    return -1


@njit(cache=True)
def d2_engine(A, Q, has_q, n, s, pickable, init_centers, first, u, y, psum,
              fnorm, anorm, every=0):
    """k-means++ seeding on distance (1).

    Parameters
    ----------
    A : (N, K) float32/float64, Q : (N, C) float32/float64 (used if has_q)
    has_q : bool
    n : (N,) float64  from ``sqnorms``
    s : (N,) float64  row scales
    pickable : (N,) bool
    init_centers : (L,) int64  initial centers (may be empty)
    first : int  first pick when L == 0, else ignored
    u : (budget,) float64  uniforms in [0, 1); u[t] drives pick t
    y : (N,) int64  argmax class (BADGE; any values otherwise)
    psum : (N,) float64  row sums of the probabilities (BADGE)
    fnorm, anorm : (N,) float64  |A_i| and |Q_i| (BADGE)
    every : int  progress report stride in picks (``progress_hook.tick``);
        0 reports nothing.  Picks do not depend on it.

    Returns
    -------
    picks : (budget,) int64 in pick order
    evals : int  distances evaluated (the rest were pruned)
    """
    N = A.shape[0]
    budget = u.shape[0]
    L = init_centers.shape[0]
    picks = np.empty(budget, dtype=np.int64)
    if budget == 0:
        return picks, 0
    active = pickable.copy()
    d2 = np.full(N, np.inf)
    for i in range(N):
        if not active[i]:
            d2[i] = 0.0
    assign = np.full(N, -1, dtype=np.int64)
    nmax = L + budget
    centers = np.empty(nmax, dtype=np.int64)
    maxd2 = np.full(nmax, np.inf)
    skip = np.zeros(nmax, dtype=np.bool_)
    cc2 = np.zeros(nmax, dtype=np.float64)
    q = 0
    evals = 0
    for t in range(L):
        c = init_centers[t]
        centers[q] = c
        evals += _add_center(A, Q, has_q, n, s, c, q, d2, assign, active, maxd2,
                    centers, skip, cc2, y, psum, fnorm, anorm)
        q += 1
        _scan(d2, assign, active, maxd2, q)
    t0 = 0
    if L == 0:
        picks[0] = first
        active[first] = False
        d2[first] = 0.0
        centers[0] = first
        evals += _add_center(A, Q, has_q, n, s, first, 0, d2, assign, active, maxd2,
                    centers, skip, cc2, y, psum, fnorm, anorm)
        q = 1
        t0 = 1
    last = tick(t0, 0, every, budget)
    for t in range(t0, budget):
        total, remaining = _scan(d2, assign, active, maxd2, q)
        w = _draw(d2, active, total, remaining, u[t])
        picks[t] = w
        active[w] = False
        d2[w] = 0.0
        centers[q] = w
        if t + 1 < budget:
            evals += _add_center(A, Q, has_q, n, s, w, q, d2, assign, active, maxd2,
                        centers, skip, cc2, y, psum, fnorm, anorm)
        q += 1
        last = tick(t + 1, last, every, budget)
    return picks, evals

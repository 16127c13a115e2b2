"""Exact K-Center-Greedy (farthest-first traversal) with stale bounds.

Distance model
--------------
Every distance the engine sees has the *inner-product form*

    d(i, j) = n[i] + n[j] - 2 * s[i] * s[j] * <A[i], B[j]>            (1)

with ``A, B`` of shape (N, K), ``n`` of shape (N,) and a per-row scale ``s``
(all ones unless rows are weighted, as in UWE where ``s = u(x)^tau``).  The
caller guarantees symmetry, <A[i], B[j]> = <A[j], B[i]>.  Two modes:

``MODE_EUCLID``  A is B, n[i] = s[i]^2 ||A[i]||^2, so (1) is the squared
    Euclidean distance ||s_i A_i - s_j A_j||^2.
``MODE_IP``      generic symmetric inner-product distance (e.g. a symmetric KL
    written over (p, log p) blocks); no triangle inequality is assumed.

Greedy rule
-----------
Centers start as the initial set (the labeled rows, or one given first row).
Each step picks ``argmax_i D(i)`` over pickable rows, ``D(i) = min_c d(i, c)``,
ties to the lowest row, and adds it to the centers.

Exactness rule (what "the same pick as the reference" means)
-------------------------------------------------------------
The canonical distance ``d64(i, j)`` is (1) evaluated in float64 by a plain
left-to-right sum over k (``_exact_pair``): for ``MODE_EUCLID`` directly as
sum_k (s_i A_ik - s_j A_jk)^2, for ``MODE_IP`` as n_i + n_j - 2 s_i s_j
sum_k A_ik B_jk.  The greedy sequence is defined on ``D64(i) = min_c d64(i,c)``.
The engine screens with fast GEMM-form values ``a(i, c)`` (BLAS, input dtype)
that satisfy the rigorous bound ``|a(i, c) - d64(i, c)| <= E[i]`` for every
center c (``E`` from ``alselect.error_bounds.row_error_bounds``).  A row can only be the argmax if its
upper bound reaches the best lower bound; when more than one row is that close,
the winner is decided on exact ``D64`` values (lowest row on exact equality).

Stale bounds (why it is fast)
-----------------------------
Min-distances only decrease as centers are added, so a value computed against
an older prefix of the centers is an upper bound.  Rows sit in a max-heap keyed
by ``m[i] + E[i]``; each step pops rows until the top key falls below the best
fresh lower bound, refreshing each popped row only against the centers added
since its last refresh (one BLAS matrix-vector product over a contiguous block
of the picked-center buffer).  Rows far below the running maximum are never
touched again.  Nothing here uses the triangle inequality, so ``MODE_IP`` is
exact as well.

Initial pass
------------
Before the first pick every live row needs its nearest initial center: one
blocked GEMM over all rows and centers.  The Python layer runs it
(``alselect.diversity``): row blocks on ``numba.get_num_threads()`` threads, each
a single-threaded NumPy GEMM folded by ``fold_rows`` (``nogil``), and hands the
result to ``kcenter_engine``.

Adding a mode (e.g. d = numerator / max(count, 1) for CDAL's mean over shared
classes) means extending ``_fold_block`` / ``_exact_pair``; the heap and bound
logic do not change.
"""

import numpy as np
from numba import njit, objmode, prange

from ..error_bounds import BOUND_SAFETY
from .blas import gemm_abt, gemv_ax
from .progress_hook import tick

MODE_EUCLID = 0
MODE_IP = 1

#: rows per block in the initial pass (block of dots is ROW_BLOCK x CENTER_BLOCK;
#: the caller's driver reads both)
ROW_BLOCK = 2048
#: centers gathered per block in the initial pass (bounds the gather buffer)
CENTER_BLOCK = 1024
#: below this many new centers a refresh uses an inline loop instead of BLAS
SMALL_REFRESH = 16
#: rows refreshed together (one GEMM) when the top row needs a long refresh
REFRESH_BATCH = 128
#: relative slack for the float32 rounding of the center-center table
CC_REL = 1e-6
#: picks after which the triangle pruning is judged ...
TRI_PROBE = 200
#: ... and dropped if it skips fewer than this fraction of the pairs it tests
TRI_MIN_RATE = 0.5


@njit(cache=True, parallel=True)
def row_sqnorms(A, s):
    """Sequential float64 ``sum_k (s[i] * A[i, k])**2`` for every row.

    Parameters
    ----------
    A : (N, K) float32/float64
    s : (N,) float64 row scales

    Returns
    -------
    (N,) float64 -- also the canonical "norm" for the max-norm first pick.
    """
    N, K = A.shape
    out = np.empty(N)
    for i in prange(N):
        si = s[i]
        acc = 0.0
        for k in range(K):
            v = si * np.float64(A[i, k])
            acc += v * v
        out[i] = acc
    return out


@njit(cache=True, parallel=True)
def row_norms_unscaled(A):
    """Euclidean norm of every row of A (float64), used in error bounds."""
    N, K = A.shape
    out = np.empty(N)
    for i in prange(N):
        acc = 0.0
        for k in range(K):
            v = np.float64(A[i, k])
            acc += v * v
        out[i] = np.sqrt(acc)
    return out


@njit(cache=True)
def row_sqnorms_and_norms(A, s):
    """``row_sqnorms(A, s)`` and ``row_norms_unscaled(A)`` in one pass (same bits).

    One serial kernel instead of two parallel ones: a pass over the data is
    memory-bound, and every ``prange`` loop costs a parallel-region compile
    (about half a second) on first use.

    Returns
    -------
    (N,) float64 scaled squared norms, (N,) float64 unscaled norms
    """
    N, K = A.shape
    out = np.empty(N)
    nrm = np.empty(N)
    for i in range(N):
        si = s[i]
        acc = 0.0
        acc_u = 0.0
        for k in range(K):
            a = np.float64(A[i, k])
            v = si * a
            acc += v * v
            acc_u += a * a
        out[i] = acc
        nrm[i] = np.sqrt(acc_u)
    return out, nrm


@njit(cache=True)
def _exact_pair(mode, A, B, n, s, i, j):
    """Canonical float64 distance d64(i, j): plain left-to-right sum over k."""
    K = A.shape[1]
    acc = 0.0
    if mode == MODE_EUCLID:
        si = s[i]
        sj = s[j]
        for k in range(K):
            v = si * np.float64(A[i, k]) - sj * np.float64(A[j, k])
            acc += v * v
        return acc
    for k in range(K):
        acc += np.float64(A[i, k]) * np.float64(B[j, k])
    return n[i] + n[j] - 2.0 * s[i] * s[j] * acc


@njit(fastmath={"reassoc", "contract"}, no_cpython_wrapper=True)
def _fast_dot(A, i, B, j):
    """Reassociated (vectorised) float64-accumulated dot of A[i] and B[j]."""
    K = A.shape[1]
    acc = 0.0
    for k in range(K):
        acc += np.float64(A[i, k]) * np.float64(B[j, k])
    return acc


@njit(no_cpython_wrapper=True)
def _fold_block(i, ni, si, cn, cs, cid, dots, m1, m2, c1):
    """Fold a block of centers into row i's (min, second min, argmin).

    v_c = n_i + n_c - 2 s_i s_c dot_c.  ``m2`` is a lower bound on the values
    of all centers other than the argmin ``c1``; it lets a near-tie be
    resolved with one exact distance.
    """
    b1 = m1[i]
    b2 = m2[i]
    bc = c1[i]
    for c in range(dots.shape[0]):
        v = ni + cn[c] - 2.0 * si * cs[c] * np.float64(dots[c])
        if v < b1:
            b2 = min(b2, b1)
            b1 = v
            bc = cid[c]
        elif v < b2:
            b2 = v
    m1[i] = b1
    m2[i] = b2
    c1[i] = bc


@njit(cache=True, nogil=True)
def fold_rows(dots, r0, n, s, cn, cs, cid, rows_live, m1, m2, c1):
    """Fold one block of centers into rows r0 .. r0 + len(dots) - 1 (the initial pass).

    ``dots[r, c]`` = <A[r0 + r], B[cid[c]]> from a BLAS product in the input dtype; only
    live rows are updated.  The caller runs row blocks on several threads (``nogil``), each
    with its own single-threaded GEMM: one kernel instead of a parallel region, which
    costs over a second to compile on first use.

    Parameters
    ----------
    dots : (R, nb) float32/float64
    r0 : int  first row of the block
    n, s : (N,) float64
    cn, cs : (nb,) float64  n and s of the block's centers
    cid : (nb,) int64  their rows
    rows_live : (N,) bool
    m1, m2 : (N,) float64, c1 : (N,) int64  updated in place
    """
    for r in range(dots.shape[0]):
        i = r0 + r
        if rows_live[i]:
            _fold_block(i, n[i], s[i], cn, cs, cid, dots[r], m1, m2, c1)


# ---------------------------------------------------------------- max-heap
# keys float64 (larger first), values int64 rows (smaller first on equal keys)

@njit(no_cpython_wrapper=True)
def _above(hk, hv, a, b):
    return hk[a] > hk[b] or (hk[a] == hk[b] and hv[a] < hv[b])


@njit(no_cpython_wrapper=True)
def _sift_down(hk, hv, size, pos):
    while True:
        left = 2 * pos + 1
        if left >= size:
            return
        best = left
        right = left + 1
        if right < size and _above(hk, hv, right, left):
            best = right
        if _above(hk, hv, best, pos):
            hk[pos], hk[best] = hk[best], hk[pos]
            hv[pos], hv[best] = hv[best], hv[pos]
            pos = best
        else:
            return


@njit(no_cpython_wrapper=True)
def _push(hk, hv, size, key, val):
    pos = size
    hk[pos] = key
    hv[pos] = val
    while pos > 0:
        parent = (pos - 1) // 2
        if _above(hk, hv, pos, parent):
            hk[pos], hk[parent] = hk[parent], hk[pos]
            hv[pos], hv[parent] = hv[parent], hv[pos]
            pos = parent
        else:
            break
    return size + 1


@njit(no_cpython_wrapper=True)
def _pop(hk, hv, size):
    val = hv[0]
    size -= 1
    hk[0] = hk[size]
    hv[0] = hv[size]
    _sift_down(hk, hv, size, np.int64(0))  # not the literal: one compile of _sift_down
    return val, size


# ---------------------------------------------------------------- engine

@njit(no_cpython_wrapper=True)
def _exact_min(mode, A, B, n, s, E, i, allc, nall, scratch):
    """D64(i) = min over centers allc[:nall] of d64(i, c), screened.

    Only centers whose approximate distance is within 2 E[i] of the smallest
    approximate distance can hold the exact minimum (4 E[i] used for slack).
    """
    amin = np.inf
    for t in range(nall):
        c = allc[t]
        a = n[i] + n[c] - 2.0 * s[i] * s[c] * _fast_dot(A, i, B, c)
        scratch[t] = a
        if a < amin:
            amin = a
    lim = amin + 4.0 * E[i]
    best = np.inf
    for t in range(nall):
        if scratch[t] <= lim:
            v = _exact_pair(mode, A, B, n, s, i, allc[t])
            if v < best:
                best = v
    return best


@njit(no_cpython_wrapper=True)
def _exact_row(mode, A, B, n, s, E, i, m1, m2, c1, allc, nall, scratch, stats):
    """D64(i) for a fresh row: one exact distance when its nearest center is
    separated from the others by more than 2 E[i], else a screened scan."""
    stats[3] += 1
    if m2[i] - m1[i] > 2.0 * BOUND_SAFETY * E[i]:
        return _exact_pair(mode, A, B, n, s, i, c1[i])
    stats[4] += 1
    return _exact_min(mode, A, B, n, s, E, i, allc, nall, scratch)


@njit(cache=True)
def resolve_near_tie(mode, A, B, n, s, Ehi, m1, m2, c1, allc, nall, scratch, stats,
                     cand, ncand, best_lo):
    """The pick among candidates whose bounds overlap the best lower bound ``best_lo``:
    largest exact ``D64`` (lowest row on equality).

    The engine calls it from an object-mode block, so that a run without near-ties (the
    usual case) never compiles the exact scan.

    Returns
    -------
    w : int  the row picked
    dw : float  its D64
    """
    stats[2] += 1
    dw = -np.inf
    w = -1
    for q in range(ncand):
        i = cand[q]
        if m1[i] + Ehi[i] >= best_lo:
            v = _exact_row(mode, A, B, n, s, Ehi, i, m1, m2, c1, allc, nall, scratch, stats)
            if v > dw or (v == dw and i < w):
                dw = v
                w = i
    return w, dw


def _near_tie(*args):
    """Object-mode entry to :func:`resolve_near_tie` (a plain function: the cache entry
    refers to it by name instead of pickling a dispatcher)."""
    return resolve_near_tie(*args)


@njit(no_cpython_wrapper=True)
def _near_tie_objmode(mode, A, B, n, s, Ehi, m1, m2, c1, allc, nall, scratch, stats,
                      cand, ncand, best_lo):
    """:func:`resolve_near_tie` through object mode, so that it compiles when first
    needed rather than with the engine.  A function of its own: a lifted block keeps
    the IR of the function around it, and the engine's would carry the explicitly typed
    ``tick`` dispatcher into the cache, rebuilt (recompiled) on every load."""
    with objmode(w="int64", dw="float64"):
        w, dw = _near_tie(mode, A, B, n, s, Ehi, m1, m2, c1, allc, nall, scratch, stats,
                          cand, ncand, best_lo)
    return w, dw


@njit(no_cpython_wrapper=True)
def _tighten(A, B, n, s, Elo, Ehi, i, m1, m2, c1, allc, nall):
    """Replace row i's screening values from the input-precision GEMM pass
    (error Elo) by float64-accumulated ones (error Ehi).

    If the GEMM argmin is separated from every other center by more than
    2 Elo, the minimum is attained there and one float64 dot suffices;
    otherwise all initial centers are rescanned.
    """
    if m2[i] - m1[i] > 2.0 * BOUND_SAFETY * Elo[i]:
        c = c1[i]
        m1[i] = n[i] + n[c] - 2.0 * s[i] * s[c] * _fast_dot(A, i, B, c)
        m2[i] = m2[i] - Elo[i] - Ehi[i]
        return 1
    b1 = np.inf
    b2 = np.inf
    bc = -1
    for t in range(nall):
        c = allc[t]
        v = n[i] + n[c] - 2.0 * s[i] * s[c] * _fast_dot(A, i, B, c)
        if v < b1:
            b2 = min(b2, b1)
            b1 = v
            bc = c
        elif v < b2:
            b2 = v
    m1[i] = b1
    m2[i] = b2
    c1[i] = bc
    return nall


@njit(fastmath={"reassoc", "contract"}, no_cpython_wrapper=True)
def _fold_screened(i, A, n, s, cbuf, cn, cs, cid, lo, dots, elo, ehi, m1, m2, c1,
                   stats):
    """Fold centers lo..lo+len(dots)-1 into row i from input-precision dots.

    ``dots`` come from a BLAS product in the input dtype, so the values
    v_c = n_i + n_c - 2 s_i s_c dots[c] are within ``elo`` of d64.  With
    b = min_c v_c, a center with v_c > b + 2 elo + 2 ehi is provably farther
    (in d64, and in every float64-accumulated value) than the best new center;
    only the centers inside that window get a float64-accumulated value (error
    ``ehi``, folded into (m1, m2, c1) as usual), the others contribute the lower
    bound v_c - elo - ehi to m2.  Hence (m1, m2, c1) keep float64 quality while
    the bulk of the arithmetic runs at the input precision.  For float64 input
    (elo <= ehi) the values are folded directly.
    """
    k = dots.shape[0]
    ni = n[i]
    si = s[i]
    if elo <= ehi:
        _fold_block(i, ni, si, cn[lo:lo + k], cs[lo:lo + k], cid[lo:lo + k], dots,
                    m1, m2, c1)
        return
    b = np.inf
    for c in range(k):
        v = ni + cn[lo + c] - 2.0 * si * cs[lo + c] * np.float64(dots[c])
        if v < b:
            b = v
    lim = b + 2.0 * (elo + ehi)
    K = A.shape[1]
    b1 = m1[i]
    b2 = m2[i]
    bc = c1[i]
    for c in range(k):
        q = lo + c
        v = ni + cn[q] - 2.0 * si * cs[q] * np.float64(dots[c])
        if v > lim:
            lb = v - elo - ehi
            if lb < b2:
                b2 = lb
            continue
        stats[9] += 1
        acc = 0.0
        for kk in range(K):
            acc += np.float64(A[i, kk]) * cbuf[q, kk]
        v = ni + cn[q] - 2.0 * si * cs[q] * acc
        if v < b1:
            b2 = min(b2, b1)
            b1 = v
            bc = cid[q]
        elif v < b2:
            b2 = v
    m1[i] = b1
    m2[i] = b2
    c1[i] = bc


@njit(no_cpython_wrapper=True)
def _refresh_one(A, n, s, cbuf, cbufA, cn, cs, cid, i, lo, nc, m1, m2, c1, rowbuf,
                 Elo, Ehi, stats, ab, gbuf, sbuf):
    """Fold picked centers lo..nc-1 into row i (float64 quality); ``gbuf`` (budget,)
    input dtype and ``sbuf`` (SMALL_REFRESH,) float64 hold the dots."""
    K = A.shape[1]
    k = nc - lo
    if k < SMALL_REFRESH:
        dots = sbuf[:k]
        for c in range(k):
            acc = 0.0
            for kk in range(K):
                acc += np.float64(A[i, kk]) * cbuf[lo + c, kk]
            dots[c] = acc
        _fold_block(i, n[i], s[i], cn[lo:nc], cs[lo:nc], cid[lo:nc], dots, m1, m2, c1)
        return
    for kk in range(K):
        rowbuf[kk] = A[i, kk]
    dots = gbuf[:k]
    gemv_ax(cbufA[lo:nc], rowbuf, dots, ab)  # BLAS matrix-vector, input precision
    _fold_screened(i, A, n, s, cbuf, cn, cs, cid, lo, dots, Elo[i], Ehi[i], m1, m2, c1,
                   stats)


@njit(fastmath={"reassoc", "contract"}, no_cpython_wrapper=True)
def _refresh_pruned(A, n, s, cbuf, cn, cs, cid, cc, slot_of, Ehi, i, lo, nc,
                    m1, m2, c1, stats):
    """Fold picked centers lo..nc-1 into row i, skipping provably far ones.

    Euclidean only (triangle inequality).  With c1 the row's nearest center so
    far, a center c cannot come closer than (|c - c1| - |x_i - c1|)^2; when
    that lower bound (made rigorous with the error bounds and the float32
    rounding of the center-center table) exceeds m1, c is skipped and the bound
    is folded into m2 instead, keeping m2 a valid lower bound.
    """
    K = A.shape[1]
    b1 = m1[i]
    b2 = m2[i]
    bc = c1[i]
    q1 = slot_of[bc]
    ei = Ehi[i]
    ni = n[i]
    si = s[i]
    for c in range(lo, nc):
        stats[7] += 1
        lb = np.float64(cc[q1, c]) * (1.0 - CC_REL) - Ehi[cid[c]] - Ehi[bc]
        if lb > 0.0:
            lbd = np.sqrt(lb) - np.sqrt(b1 + ei)
            if lbd > 0.0:
                lbsq = lbd * lbd - ei
                if lbsq > b1:
                    stats[8] += 1
                    if lbsq < b2:
                        b2 = lbsq
                    continue
        acc = 0.0
        for kk in range(K):
            acc += np.float64(A[i, kk]) * cbuf[c, kk]
        v = ni + cn[c] - 2.0 * si * cs[c] * acc
        if v < b1:
            b2 = min(b2, b1)
            b1 = v
            bc = cid[c]
            q1 = c
        elif v < b2:
            b2 = v
    stats[1] += nc - lo
    m1[i] = b1
    m2[i] = b2
    c1[i] = bc


@njit(cache=True)
def kcenter_engine(mode, A, B, n, s, Elo, Ehi, live, init_centers, first,
                   use_tri, m1, m2, c1, work, every=0):
    """Exact greedy k-center on the distance (1); see the module docstring.

    Parameters
    ----------
    mode : int  MODE_EUCLID or MODE_IP
    A, B : (N, K) float32 or float64, C-contiguous, same dtype (B is A for
        MODE_EUCLID)
    n : (N,) float64  n[i] in (1)
    s : (N,) float64  row scales in (1)
    Elo : (N,) float64  error bounds of input-precision GEMM values
    Ehi : (N,) float64  error bounds of float64-accumulated values
    live : (N,) bool  rows that may still be picked: not labeled, candidate, and
        not ``first``; the rows of the initial pass, updated in place
    init_centers : (L,) int64  initial centers (labeled rows); may be empty
    first : int  first pick when L == 0 (ignored otherwise)
    use_tri : bool  keep a (budget, budget) float32 table of picked-center
        distances and prune refreshes with the triangle inequality (MODE_EUCLID
        only); switched off automatically when it prunes too little
    m1, m2 : (N,) float64, c1 : (N,) int64  the initial pass (``fold_rows``
        over every live row and every initial center: ``init_centers``, or
        ``first`` alone when L == 0): per row the smallest and second smallest
        GEMM-form value and the argmin row; overwritten as the engine runs
    work : tuple  the engine's arrays from ``alselect.diversity.kcenter_workspace``
        (sized for ``budget`` picks, its first three the outputs); allocated by the
        caller because each ``np.empty`` signature here is one more compile on first
        use.  Their contents on entry do not matter.
    every : int  progress report stride in picks (``progress_hook.tick``);
        0 reports nothing.  Picks do not depend on it.

    Returns
    -------
    int  picks made (``budget`` unless the pickable rows ran out), written to the
    work arrays ``picks`` (pick order), ``mind2`` (distance (1) of each pick to
    its nearest center at the moment it was picked, +inf for a first pick with
    no centers; the exact D64 when a near-tie was resolved, else within Ehi of
    it) and ``stats`` (10 counters: heap pops, row-center pairs refreshed,
    near-ties resolved, rows evaluated exactly, of which by a full center scan,
    rows tightened, center pairs scanned while tightening, triangle tests, pairs
    pruned by them, pairs re-evaluated in float64 after an input-precision
    screen)
    """
    (picks, mind2, stats, allc, cbuf, cbufA, cn, cs, cid, lastc, tight, cc,
     slot_of, hk, hv, cand, scratch, batch, gsel, rowbuf, xb, ab, gbuf, sbuf) = work
    N, K = A.shape
    L = init_centers.shape[0]
    budget = picks.shape[0]
    for q in range(10):
        stats[q] = 0
    if budget == 0:
        return 0
    for t in range(L):
        allc[t] = init_centers[t]
    nall = L
    # fill loops only: each np.full / np.zeros signature is one more compile on first use
    for i in range(N):
        lastc[i] = 0
        tight[i] = False
    use_tri = use_tri and mode == MODE_EUCLID
    for i in range(slot_of.shape[0]):
        slot_of[i] = -1
    if use_tri and L == 0:
        slot_of[first] = 0
    nc = 0  # picked centers so far (rows of cbuf)
    t0 = 0
    if L == 0:
        picks[0] = first
        mind2[0] = np.inf
        for kk in range(K):
            cbuf[0, kk] = B[first, kk]
            cbufA[0, kk] = B[first, kk]
        cn[0] = n[first]
        cs[0] = s[first]
        cid[0] = first
        nc = 1
        allc[0] = first
        nall = 1
        t0 = 1
        lastc[:] = 1
    ninit = nall
    size = np.int64(0)  # int64 from the start: no literal-typed compile of the heap helpers
    for i in range(N):
        if live[i]:
            hk[size] = m1[i] + Elo[i]
            hv[size] = i
            size += 1
    for pos in range(size // 2 - 1, -1, -1):
        _sift_down(hk, hv, size, pos)
    ab[0] = 1.0  # BLAS alpha, beta
    ab[1] = 0.0
    last = tick(t0, 0, every, budget)
    for t in range(t0, budget):
        best_lo = -np.inf
        ncand = 0
        while size > 0 and hk[0] >= best_lo:
            i, size = _pop(hk, hv, size)
            stats[0] += 1
            nb = 1
            batch[0] = i
            if use_tri and not tight[i]:
                stats[5] += 1
                stats[6] += _tighten(A, B, n, s, Elo, Ehi, i, m1, m2, c1,
                                     allc, ninit)
                tight[i] = True
            if use_tri and slot_of[c1[i]] >= 0:
                if lastc[i] < nc:
                    _refresh_pruned(A, n, s, cbuf, cn, cs, cid, cc, slot_of, Ehi,
                                    i, lastc[i], nc, m1, m2, c1, stats)
                    lastc[i] = nc
            elif nc - lastc[i] >= SMALL_REFRESH:
                # Speculative batch: the rows just below the top will almost
                # surely need the same refresh soon; one GEMM serves them all.
                while nb < REFRESH_BATCH and size > 0:
                    j, size = _pop(hk, hv, size)
                    stats[0] += 1
                    batch[nb] = j
                    nb += 1
            lo_min = nc
            for b in range(nb):
                i = batch[b]
                if not tight[i]:
                    stats[5] += 1
                    stats[6] += _tighten(A, B, n, s, Elo, Ehi, i, m1, m2, c1,
                                         allc, ninit)
                    tight[i] = True
                if lastc[i] < lo_min:
                    lo_min = lastc[i]
            if nb > 1:
                # rows needing at least half of the top row's range share one
                # GEMM; the others are refreshed on their own (no wasted work)
                lo_top = lastc[batch[0]]
                cut = nc - (nc - lo_top) // 2
                ng = 0
                for b in range(nb):
                    i = batch[b]
                    if lastc[i] <= cut:
                        for kk in range(K):
                            xb[ng, kk] = A[i, kk]
                        gsel[ng] = i
                        ng += 1
                    elif lastc[i] < nc:
                        _refresh_one(A, n, s, cbuf, cbufA, cn, cs, cid, i,
                                     lastc[i], nc, m1, m2, c1, rowbuf, Elo, Ehi,
                                     stats, ab, gbuf, sbuf)
                        stats[1] += nc - lastc[i]
                        lastc[i] = nc
                lo_g = nc
                for g in range(ng):
                    if lastc[gsel[g]] < lo_g:
                        lo_g = lastc[gsel[g]]
                if ng > 0:
                    # (ng, k) GEMM in the input precision, screened to float64
                    dots2 = np.empty((ng, nc - lo_g), dtype=A.dtype)
                    gemm_abt(xb[:ng], cbufA[lo_g:nc], dots2, ab)
                    for g in range(ng):
                        i = gsel[g]
                        lo = lastc[i]
                        stats[1] += nc - lo
                        _fold_screened(i, A, n, s, cbuf, cn, cs, cid, lo,
                                       dots2[g, lo - lo_g:], Elo[i], Ehi[i],
                                       m1, m2, c1, stats)
                        lastc[i] = nc
            elif lo_min < nc:
                stats[1] += nc - lo_min
                _refresh_one(A, n, s, cbuf, cbufA, cn, cs, cid, i, lo_min, nc,
                             m1, m2, c1, rowbuf, Elo, Ehi, stats, ab, gbuf, sbuf)
                lastc[i] = nc
            for b in range(nb):
                i = batch[b]
                cand[ncand] = i
                ncand += 1
                v = m1[i] - Ehi[i]
                if v > best_lo:
                    best_lo = v
        if ncand == 0:
            return t
        nclose = 0
        w = -1
        for q in range(ncand):
            i = cand[q]
            if m1[i] + Ehi[i] >= best_lo:
                nclose += 1
                w = i
        if nclose == 1:
            dw = m1[w]
        else:
            # rare (exact duplicates, float32 near-ties): compiled on first need only
            w, dw = _near_tie_objmode(mode, A, B, n, s, Ehi, m1, m2, c1, allc, nall,
                                      scratch, stats, cand, ncand, best_lo)
        for q in range(ncand):
            i = cand[q]
            if i != w:
                size = _push(hk, hv, size, m1[i] + Ehi[i], i)
        picks[t] = w
        mind2[t] = dw
        live[w] = False
        for kk in range(K):
            cbuf[nc, kk] = B[w, kk]
            cbufA[nc, kk] = B[w, kk]
        cn[nc] = n[w]
        cs[nc] = s[w]
        cid[nc] = w
        if use_tri:
            slot_of[w] = nc
            if nc > 0:
                for q in range(nc):
                    dd = _fast_dot(cbuf, q, cbuf, nc)
                    v = cn[q] + cn[nc] - 2.0 * cs[q] * cs[nc] * dd
                    cc[nc, q] = v
                    cc[q, nc] = v
            cc[nc, nc] = 0.0
            if t >= TRI_PROBE and stats[8] < TRI_MIN_RATE * stats[7]:
                use_tri = False  # concentrated data: the table does not pay
        nc += 1
        allc[nall] = w
        nall += 1
        last = tick(t + 1, last, every, budget)
    return budget
